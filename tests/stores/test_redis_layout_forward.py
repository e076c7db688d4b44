"""Expand step of the Redis session value: a field a newer release adds (a
presence bit this build does not know, its bytes after every field it
knows) is read around and carried through every rewrite this build makes —
a refresh from a new address, a credential bump, a revocation — so a newer
release running beside this one (a rolling upgrade) never finds its field
dropped. On Redis and Redis Cluster."""

from __future__ import annotations

import dataclasses

from keyturn.core.sessions import Session
from keyturn.stores.redis.layout import KNOWN
from keyturn.stores.redis.sessions import RedisSessionStore
from tests.stores.test_conformance import T0, make_session, new_user
from tests.stores.test_redis_layout import rstore  # noqa: F401  (the fixture)

NEWER_BIT = next(1 << i for i in range(16) if not KNOWN & 1 << i)  # the first bit this build leaves unused
NEWER_FIELD = b"\x05hello"  # length + bytes, as the known optional fields are written


async def with_newer_field(store: RedisSessionStore, s: Session) -> bytes:
    """Write ``s``, then add a field of a newer release to its value."""
    await store.create_session(s, max_sessions=0, now=T0)
    key = f"{store.prefix}:{{{s.user_id}}}:s"
    raw = bytes(await store.client.hget(key, s.id))
    flags = int.from_bytes(raw[:2], "big")
    assert not flags & NEWER_BIT
    newer = (flags | NEWER_BIT).to_bytes(2, "big") + raw[2:] + NEWER_FIELD
    await store.client.hset(key, s.id, newer)
    return newer


async def value(store: RedisSessionStore, s: Session) -> bytes:
    """The stored value: in the user's hash, or the key of a revoked session."""
    revoked = await store.client.get(f"{store.prefix}:{{{s.user_id}}}:r:{s.id}")
    if revoked is not None:
        return bytes(revoked)
    return bytes(await store.client.hget(f"{store.prefix}:{{{s.user_id}}}:s", s.id))


def carries(raw: bytes) -> bool:
    return bool(int.from_bytes(raw[:2], "big") & NEWER_BIT) and raw.endswith(NEWER_FIELD)


async def test_a_newer_field_is_read_around_and_survives_every_rewrite(rstore: RedisSessionStore) -> None:  # noqa: F811
    s = make_session(new_user(), last_ip="198.51.100.9")
    await with_newer_field(rstore, s)
    assert await rstore.get_session(s.id, user_id=s.user_id) == s

    # A refresh from another address re-encodes the whole value.
    assert await rstore.rotate(s.id, 0, now=T0 + 5, idle_expires_at=T0 + 50, ip="192.0.2.1", user_agent="other",
                               user_id=s.user_id)
    assert carries(await value(rstore, s))
    got = await rstore.get_session(s.id, user_id=s.user_id)
    assert got is not None and (got.generation, got.last_ip, got.last_user_agent) == (1, "192.0.2.1", "other")

    await rstore.bump_credential_version(s.user_id, now=T0 + 6, keep=s.id)
    assert carries(await value(rstore, s))

    assert await rstore.revoke_session(s.id, now=T0 + 7, reason="logout", user_id=s.user_id)
    assert carries(await value(rstore, s))
    got = await rstore.get_session(s.id, user_id=s.user_id)
    assert got is not None and dataclasses.replace(got, revoked_at=None, revoke_reason=None, generation=0,
                                                   credential_version=0, last_ip=s.last_ip,
                                                   last_user_agent=s.last_user_agent, rotated_at=s.rotated_at,
                                                   last_used_at=s.last_used_at,
                                                   idle_expires_at=s.idle_expires_at) == s
