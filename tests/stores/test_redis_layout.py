"""The Redis session layout: sessions written by the previous layout (a hash
per session, a sorted set of the user's live ones, the ``sid`` owner
pointer) keep working through the current store, on Redis and Redis
Cluster; and the packed value keeps every field exactly."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from keyturn.core.sessions import Session
from keyturn.stores.redis.layout import num as _num
from keyturn.stores.redis.sessions import RedisSessionStore
from tests.conftest import lane
from tests.stores.conftest import close_stores, open_stores
from tests.stores.test_conformance import ABSOLUTE, IDLE, T0, make_session, new_user


@pytest.fixture(params=["redis", "redis-cluster"])
@lane("backend")
async def rstore(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[RedisSessionStore]:
    stores = await open_stores(request.param, request, tmp_path)
    try:
        assert isinstance(stores.sessions, RedisSessionStore)
        yield stores.sessions
    finally:
        await close_stores(stores)


async def write_old(store: RedisSessionStore, s: Session, now: float = T0) -> None:
    """A session as the previous layout's ``create_session`` wrote it."""
    ttl_ms = max(1, int((s.absolute_expires_at - now) * 1000))
    fields: dict[str, Any] = {
        "sid": s.id, "uid": s.user_id, "salt": s.salt, "gen": str(s.generation), "cat": _num(s.created_at),
        "rat": _num(s.rotated_at), "lat": _num(s.last_used_at), "iexp": _num(s.idle_expires_at),
        "aexp": _num(s.absolute_expires_at), "cv": str(s.credential_version),
    }
    for name, value in (
        ("lip", s.login_ip), ("ua", s.user_agent), ("llip", s.last_ip), ("lua", s.last_user_agent),
        ("jkt", s.dpop_jkt), ("rvr", s.revoke_reason),
    ):
        if value is not None:
            fields[name] = value
    if s.revoked_at is not None:
        fields["rvat"] = _num(s.revoked_at)
    p, uid = store.prefix, s.user_id
    old = f"{p}:{{{uid}}}:s:{s.id}"
    await store.client.set(f"{p}:sid:{s.id}", uid, px=ttl_ms)
    await store.client.hset(old, mapping=fields)
    await store.client.pexpire(old, ttl_ms)
    if s.revoked_at is None:  # the sorted set held the unrevoked ones only
        zset = f"{p}:{{{uid}}}:u"
        await store.client.zadd(zset, {s.id: s.last_used_at})
        await store.client.pexpire(zset, ttl_ms)


async def old_keys(store: RedisSessionStore, uid: str) -> list[str]:
    found = []
    async for key in store.client.scan_iter(match=f"{store.prefix}:{{{uid}}}:[su]:*", count=1000):
        found.append(bytes(key).decode())
    async for key in store.client.scan_iter(match=f"{store.prefix}:{{{uid}}}:u", count=1000):
        found.append(bytes(key).decode())
    return found


async def test_an_old_session_reads_refreshes_and_moves(rstore: RedisSessionStore) -> None:
    s = make_session(new_user(), last_ip="198.51.100.9", dpop_jkt="j" * 43, credential_version=0)
    await write_old(rstore, s)
    assert await rstore.get_session(s.id) == s
    assert await rstore.rotate(
        s.id, 0, now=T0 + 5, idle_expires_at=T0 + 5 + IDLE, ip="192.0.2.1", user_agent="ua2"
    )
    got = await rstore.get_session(s.id, user_id=s.user_id)
    assert got is not None
    assert (got.generation, got.last_used_at, got.last_ip, got.last_user_agent) == (1, T0 + 5, "192.0.2.1", "ua2")
    assert dataclasses.replace(got, generation=0, rotated_at=s.rotated_at, last_used_at=s.last_used_at,
                               idle_expires_at=s.idle_expires_at, last_ip=s.last_ip,
                               last_user_agent=s.last_user_agent) == s
    assert await old_keys(rstore, s.user_id) == []
    assert await rstore.client.pttl(f"{rstore.prefix}:{{{s.user_id}}}:s") > 0


async def test_old_sessions_are_listed_evicted_and_revoked(rstore: RedisSessionStore) -> None:
    uid = new_user()
    a = make_session(uid, T0)
    b = make_session(uid, T0 + 1)
    gone = make_session(uid, T0 + 2, revoked_at=T0 + 2, revoke_reason="logout")
    for s in (a, b, gone):
        await write_old(rstore, s)
    assert [s.id for s in await rstore.list_sessions(uid, now=T0 + 3)] == [b.id, a.id]
    # The limit counts the old sessions: the least recently used one goes.
    c = make_session(uid, T0 + 4)
    assert await rstore.create_session(c, max_sessions=2, now=T0 + 4) == [a.id]
    assert (await rstore.get_session(a.id)).revoke_reason == "evicted"  # type: ignore[union-attr]
    assert sorted(await rstore.revoke_user(uid, now=T0 + 5, reason="logout_all")) == sorted([b.id, c.id])
    assert {s.id for s in await rstore.list_sessions(uid, now=T0 + 6)} == set()
    # The revoked one (never in the sorted set) is still recognised.
    assert await rstore.get_session(gone.id) == gone
    assert await rstore.revoke_session(gone.id, now=T0 + 7, reason="x") is False
    assert await old_keys(rstore, uid) == []


async def test_an_old_session_revoked_through_the_new_store(rstore: RedisSessionStore) -> None:
    s = make_session(new_user())
    await write_old(rstore, s)
    assert await rstore.revoke_session(s.id, now=T0 + 1, reason="logout", user_id=s.user_id)
    assert await rstore.revoke_session(s.id, now=T0 + 2, reason="logout") is False
    got = await rstore.get_session(s.id)
    assert got is not None and (got.revoked_at, got.revoke_reason) == (T0 + 1, "logout")
    assert await rstore.rotate(s.id, 0, now=T0 + 3, idle_expires_at=T0 + IDLE, ip=None, user_agent=None) is None


async def test_old_sessions_no_script_touched_are_found_by_maintenance(rstore: RedisSessionStore) -> None:
    live = make_session(new_user(), T0)
    ended = make_session(new_user(), T0 - ABSOLUTE + 10, revoked_at=T0 - 10, revoke_reason="logout")
    await write_old(rstore, live)
    await write_old(rstore, ended, now=T0 - 10)
    assert [s.id for s in await rstore.list_all_sessions(now=T0 + 1)] == [live.id]
    assert await rstore.purge_expired(now=T0 + 20) == 1
    assert await rstore.get_session(ended.id) is None
    assert await rstore.get_session(live.id) == live


async def test_bump_keeps_an_old_session(rstore: RedisSessionStore) -> None:
    uid = new_user()
    keep, other = make_session(uid), make_session(uid)
    await write_old(rstore, keep)
    await write_old(rstore, other)
    assert await rstore.bump_credential_version(uid, now=T0 + 1, keep=keep.id) == 1
    assert [s.id for s in await rstore.list_sessions(uid, now=T0 + 2)] == [keep.id]
    assert (await rstore.get_session(other.id)).revoke_reason == "credentials_changed"  # type: ignore[union-attr]


@pytest.mark.parametrize("change", [
    dict(user_agent="u" * 300, last_user_agent="w" * 70_000),
    dict(salt=b"\x00" * 7, login_ip=None, last_ip="192.0.2.1", user_agent=None, last_user_agent="x"),
    dict(salt=b"", login_ip="", user_agent="", last_ip="", last_user_agent=""),
    dict(credential_version=2**32 - 1, generation=2**32 - 1, revoked_at=T0 + 0.5, revoke_reason="r\u00e9"),
    dict(last_ip=None, last_user_agent=None, dpop_jkt="k" * 43),
])
async def test_the_packed_value_keeps_every_field(rstore: RedisSessionStore, change: dict[str, Any]) -> None:
    s = make_session(new_user(), T0 + 0.1, **change)
    await rstore.create_session(s, max_sessions=0, now=T0)
    assert await rstore.get_session(s.id) == dataclasses.replace(s)


async def test_concurrent_first_touches_of_an_old_user(rstore: RedisSessionStore) -> None:
    """Rotations, a revocation and listings racing over a user whose
    sessions are all in the previous layout: one rotation wins, and every
    session is moved once."""
    uid = new_user()
    old = [make_session(uid, T0 + i) for i in range(3)]
    for s in old:
        await write_old(rstore, s)
    results = await asyncio.gather(
        *(rstore.rotate(old[0].id, 0, now=T0 + 5, idle_expires_at=T0 + IDLE, ip=None, user_agent=None)
          for _ in range(20)),
        rstore.revoke_session(old[1].id, now=T0 + 5, reason="logout", user_id=uid),
        *(rstore.list_sessions(uid, now=T0 + 5) for _ in range(5)),
    )
    assert sum(r is not None for r in results[:20]) == 1 and results[20] is True
    live = await rstore.list_sessions(uid, now=T0 + 6)
    assert [(s.id, s.generation) for s in live] == [(old[0].id, 1), (old[2].id, 0)]
    assert await old_keys(rstore, uid) == []


async def test_concurrent_logins_at_the_limit_over_an_old_user(rstore: RedisSessionStore) -> None:
    uid = new_user()
    for i in range(3):
        await write_old(rstore, make_session(uid, T0 + i))
    fresh = [make_session(uid, T0 + 10 + i) for i in range(6)]
    results = await asyncio.gather(*(rstore.create_session(s, max_sessions=3, now=T0 + 20) for s in fresh))
    evicted = [sid for r in results for sid in r]
    assert len(evicted) == len(set(evicted)) == 6
    live = await rstore.list_sessions(uid, now=T0 + 21)
    assert len(live) == 3 and not {s.id for s in live} & set(evicted)
    assert await old_keys(rstore, uid) == []


@pytest.mark.parametrize("change", [
    dict(),
    dict(last_ip="192.0.2.9", last_user_agent=None, dpop_jkt="k" * 43),
    dict(login_ip=None, user_agent=None, last_ip=None, last_user_agent=None, credential_version=3),
])
async def test_a_refresh_from_the_same_place_keeps_every_field(
    rstore: RedisSessionStore, change: dict[str, Any]
) -> None:
    """The rotate script rewrites only the header when the last IP and user
    agent do not change."""
    s = make_session(new_user(), **change)
    await rstore.create_session(s, max_sessions=0, now=T0)
    if s.credential_version:
        for _ in range(s.credential_version):
            await rstore.bump_credential_version(s.user_id, now=T0 - 1)
    assert await rstore.rotate(
        s.id, 0, now=T0 + 5, idle_expires_at=T0 + 7, ip=s.last_ip, user_agent=s.last_user_agent, user_id=s.user_id
    )
    got = await rstore.get_session(s.id)
    assert got is not None and T0 + 5 <= got.rotated_at <= T0 + 10
    assert got == dataclasses.replace(s, generation=1, last_used_at=T0 + 5, idle_expires_at=T0 + 7,
                                      rotated_at=got.rotated_at)


async def test_a_revoked_session_leaves_the_users_hash_for_a_key_that_expires_with_it(
    rstore: RedisSessionStore,
) -> None:
    s = make_session(new_user())
    await rstore.create_session(s, max_sessions=0, now=T0)
    assert await rstore.revoke_session(s.id, now=T0 + 100, reason="logout")
    users_hash, own = f"{rstore.prefix}:{{{s.user_id}}}:s", f"{rstore.prefix}:{{{s.user_id}}}:r:{s.id}"
    assert await rstore.client.hexists(users_hash, s.id) == 0
    assert (ABSOLUTE - 100 - 5) * 1000 < await rstore.client.pttl(own) <= (ABSOLUTE - 100) * 1000
    got = await rstore.get_session(s.id, user_id=s.user_id)
    assert got == dataclasses.replace(s, revoked_at=T0 + 100, revoke_reason="logout")


async def test_a_login_without_a_limit_drops_ended_sessions(rstore: RedisSessionStore) -> None:
    uid = new_user()
    ended = [await rstore.create_session(make_session(uid, T0 - ABSOLUTE + i), max_sessions=0, now=T0 - ABSOLUTE)
             for i in range(5)]
    assert ended == [[]] * 5
    s = make_session(uid, T0 + 10)
    await rstore.create_session(s, max_sessions=0, now=T0 + 10)
    assert await rstore.client.hkeys(f"{rstore.prefix}:{{{uid}}}:s") == [s.id.encode()]


async def test_the_previous_release_reads_a_session_with_a_client_id(rstore: RedisSessionStore) -> None:
    """Rolling upgrades: the client id is a text after the six the previous
    release parses, under a flag bit it ignores; its reader stops before it.
    Its Lua decoder (the same loop) reads the same fields."""
    from keyturn.stores.redis import layout

    s = make_session(new_user(), client_id="kc_backend", user_agent="Mozilla \u2603")
    await rstore.create_session(s, max_sessions=0, now=T0)
    raw = await rstore.client.hget(rstore._hash(s.user_id), s.id)
    assert layout.unpack(s.id, s.user_id, bytes(raw)).client_id == "kc_backend"
    old_lua = layout.LUA.replace(", {'cid', 2048}", "")
    assert old_lua != layout.LUA
    script = old_lua + """
local s = decode(redis.call('HGET', KEYS[1], ARGV[1]))
return {s.gen, s.ua, s.lip, s.jkt or false, s.cid or false}
"""
    gen, ua, lip, jkt, cid = await rstore.client.eval(script, 1, rstore._hash(s.user_id), s.id)
    assert (int(gen), bytes(ua).decode(), bytes(lip).decode(), cid) == (0, s.user_agent, s.login_ip, None)
    assert (jkt if jkt is None else bytes(jkt).decode()) == s.dpop_jkt
