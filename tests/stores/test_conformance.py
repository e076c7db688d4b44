"""The SessionStore protocol, the same test bodies on every engine."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from typing import Any

from keyturn.core.refresh import new_salt, new_session_id
from keyturn.core.sessions import Session
from keyturn.stores.protocols import Rotated

T0 = 1_795_000_000.0
IDLE = 3600.0
ABSOLUTE = 86_400.0


def new_user() -> str:
    return secrets.token_urlsafe(12)


def make_session(user_id: str, at: float = T0, **kw: Any) -> Session:
    values: dict[str, Any] = dict(
        id=new_session_id(), user_id=user_id, salt=new_salt(), created_at=at,
        absolute_expires_at=at + ABSOLUTE, idle_expires_at=at + IDLE, rotated_at=at, last_used_at=at,
        login_ip="203.0.113.7", user_agent="curl/8", last_ip="203.0.113.7", last_user_agent="curl/8",
    )
    values.update(kw)
    return Session(**values)


async def add(store: Any, user_id: str, at: float = T0, max_sessions: int = 0, **kw: Any) -> Session:
    s = make_session(user_id, at, **kw)
    assert await store.create_session(s, max_sessions=max_sessions, now=at) == []
    return s


async def rotate(store: Any, s: Session, gen: int, at: float, **kw: Any) -> bool:
    """Whether this call won the compare-and-set (``rotate`` returns a
    ``Rotated`` then, else ``None``)."""
    won = await store.rotate(
        s.id, gen, now=at, idle_expires_at=min(at + IDLE, s.absolute_expires_at), ip="198.51.100.1",
        user_agent="firefox", **kw,
    )
    assert won is None or isinstance(won, Rotated)
    return won is not None


async def test_create_then_get_returns_every_field(store: Any) -> None:
    s = make_session(new_user(), user_agent="Mozilla/5.0 \u2603 \U0001f511", dpop_jkt=None, last_ip=None)
    await store.create_session(s, max_sessions=0, now=T0)
    assert await store.get_session(s.id) == s


async def test_unknown_session_is_none(store: Any) -> None:
    assert await store.get_session(new_session_id()) is None
    assert await rotate(store, make_session(new_user()), 0, T0) is False
    assert await store.revoke_session(new_session_id(), now=T0, reason="logout") is False


async def test_owner_hint_of_another_user_finds_nothing(store: Any) -> None:
    s = await add(store, new_user())
    assert await store.get_session(s.id, user_id=s.user_id) == s
    assert await store.get_session(s.id, user_id=new_user()) is None
    assert await rotate(store, s, 0, T0 + 1, user_id=new_user()) is False
    assert await store.revoke_session(s.id, now=T0 + 1, reason="x", user_id=new_user()) is False
    assert (await store.get_session(s.id)) == s


async def test_rotate_advances_the_current_generation(store: Any) -> None:
    s = await add(store, new_user())
    assert await rotate(store, s, 0, T0 + 10, user_id=s.user_id)
    got = await store.get_session(s.id)
    assert (got.generation, got.last_used_at) == (1, T0 + 10)
    # The grace window starts at the commit: ``now`` plus the time the
    # statement waited by the store's clock (within the store timeout).
    assert T0 + 10 <= got.rotated_at <= T0 + 15
    assert got.idle_expires_at == T0 + 10 + IDLE
    assert (got.last_ip, got.last_user_agent) == ("198.51.100.1", "firefox")
    assert (got.login_ip, got.user_agent) == ("203.0.113.7", "curl/8")


async def test_rotate_without_owner_hint(store: Any) -> None:
    s = await add(store, new_user())
    assert await rotate(store, s, 0, T0 + 1)
    assert (await store.get_session(s.id)).generation == 1


async def test_rotate_of_a_stale_generation_fails(store: Any) -> None:
    s = await add(store, new_user())
    assert await rotate(store, s, 0, T0 + 1)
    assert await rotate(store, s, 0, T0 + 2) is False
    assert await rotate(store, s, 2, T0 + 2) is False
    assert (await store.get_session(s.id)).generation == 1


async def test_exactly_one_of_100_concurrent_rotations_wins(store: Any) -> None:
    s = await add(store, new_user())
    results = await asyncio.gather(*(rotate(store, s, 0, T0 + 1, user_id=s.user_id) for _ in range(100)))
    assert results.count(True) == 1
    assert (await store.get_session(s.id)).generation == 1


async def test_rotate_refused_when_revoked(store: Any) -> None:
    s = await add(store, new_user())
    assert await store.revoke_session(s.id, now=T0 + 1, reason="logout")
    assert await rotate(store, s, 0, T0 + 2) is False


async def test_rotate_refused_after_idle_expiry(store: Any) -> None:
    s = await add(store, new_user())
    assert await rotate(store, s, 0, T0 + IDLE) is False
    assert await rotate(store, s, 0, T0 + IDLE - 1)


async def test_revoke_once_and_keep_the_record(store: Any) -> None:
    s = await add(store, new_user())
    assert await store.revoke_session(s.id, now=T0 + 5, reason="logout", user_id=s.user_id)
    assert await store.revoke_session(s.id, now=T0 + 6, reason="logout") is False
    got = await store.get_session(s.id)
    assert (got.revoked_at, got.revoke_reason) == (T0 + 5, "logout")
    assert await store.list_sessions(s.user_id, now=T0 + 7) == []


async def test_revoke_user_ends_all_but_kept(store: Any) -> None:
    uid = new_user()
    a, b_, c = (await add(store, uid, T0 + i) for i in range(3)) if False else (
        await add(store, uid, T0), await add(store, uid, T0 + 1), await add(store, uid, T0 + 2)
    )
    other = await add(store, new_user())
    ids = await store.revoke_user(uid, now=T0 + 10, reason="logout_others", keep=c.id)
    assert sorted(ids) == sorted([a.id, b_.id])
    assert [s.id for s in await store.list_sessions(uid, now=T0 + 11)] == [c.id]
    assert (await store.get_session(a.id)).revoke_reason == "logout_others"
    assert await store.revoke_user(uid, now=T0 + 12, reason="logout_all") == [c.id]
    assert await store.revoke_user(uid, now=T0 + 13, reason="logout_all") == []
    assert (await store.get_session(other.id)).revoked_at is None


async def test_listing_is_live_sessions_most_recent_first(store: Any) -> None:
    uid = new_user()
    old = await add(store, uid, T0)
    mid = await add(store, uid, T0 + 1)
    new = await add(store, uid, T0 + 2)
    idle = await add(store, uid, T0 - IDLE)  # idle-expired by T0 + 3
    gone = await add(store, uid, T0 + 3)
    await store.revoke_session(gone.id, now=T0 + 3, reason="logout")
    await add(store, new_user(), T0)
    assert await rotate(store, old, 0, T0 + 4)
    listed = await store.list_sessions(uid, now=T0 + 5)
    assert [s.id for s in listed] == [old.id, new.id, mid.id]
    assert idle.id not in {s.id for s in listed}


async def test_lru_eviction_at_the_per_user_limit(store: Any) -> None:
    uid = new_user()
    s1 = await add(store, uid, T0, max_sessions=2)
    s2 = await add(store, uid, T0 + 1, max_sessions=2)
    assert await rotate(store, s1, 0, T0 + 2)  # s2 is now the least recently used
    s3 = make_session(uid, T0 + 3)
    assert await store.create_session(s3, max_sessions=2, now=T0 + 3) == [s2.id]
    got = await store.get_session(s2.id)
    assert (got.revoke_reason, got.revoked_at) == ("evicted", T0 + 3)
    assert {s.id for s in await store.list_sessions(uid, now=T0 + 4)} == {s1.id, s3.id}


async def test_limit_of_one_replaces_the_previous_login(store: Any) -> None:
    uid = new_user()
    first = await add(store, uid, T0, max_sessions=1)
    second = make_session(uid, T0 + 1)
    assert await store.create_session(second, max_sessions=1, now=T0 + 1) == [first.id]
    assert [s.id for s in await store.list_sessions(uid, now=T0 + 2)] == [second.id]


async def test_eviction_skips_dead_sessions(store: Any) -> None:
    uid = new_user()
    revoked = await add(store, uid, T0)
    await store.revoke_session(revoked.id, now=T0, reason="logout")
    await add(store, uid, T0 - IDLE)  # idle-expired
    live = await add(store, uid, T0 + 1)
    s = make_session(uid, T0 + 2)
    assert await store.create_session(s, max_sessions=2, now=T0 + 2) == []
    assert {x.id for x in await store.list_sessions(uid, now=T0 + 2)} == {live.id, s.id}


async def test_purge_deletes_only_sessions_past_absolute_expiry(store: Any) -> None:
    uid = new_user()
    early = await add(store, uid, T0 - ABSOLUTE + 10)
    revoked = await add(store, uid, T0 - ABSOLUTE + 20)
    await store.revoke_session(revoked.id, now=T0, reason="logout")
    keep = await add(store, uid, T0)
    assert await store.purge_expired(now=T0 + 30) == 2
    assert await store.get_session(early.id) is None
    assert await store.get_session(revoked.id) is None
    assert await store.get_session(keep.id) == keep
    assert await store.purge_expired(now=T0 + 30) == 0


async def test_list_all_sessions(store: Any) -> None:
    a = await add(store, new_user(), T0)
    b_ = await add(store, new_user(), T0 + 1)
    dead = await add(store, new_user(), T0)
    await store.revoke_session(dead.id, now=T0, reason="admin")
    assert [s.id for s in await store.list_all_sessions(now=T0 + 2)] == [b_.id, a.id]


async def test_values_survive_exactly(store: Any) -> None:
    s = make_session(new_user(), T0 + 0.123456, login_ip="2001:db8::1", user_agent="", dpop_jkt="x" * 43)
    await store.create_session(s, max_sessions=0, now=T0)
    got = await store.get_session(s.id)
    assert got == dataclasses.replace(s)
    assert got.user_agent == ""
