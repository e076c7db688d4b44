"""A store that lost its last rotation (AOF everysec after a crash, a
failover to a lagging replica) heals: a genuine token exactly one generation
ahead of the store is the successor the store forgot. Two ahead is not."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from keyturn.clock import FrozenClock
from keyturn.errors import RefreshTokenInvalid, RefreshTokenReused
from keyturn.service.wiring import Runtime
from keyturn.stores.memory import MemoryStore
from keyturn.stores.redis import layout
from keyturn.stores.redis.sessions import RedisSessionStore
from keyturn.stores.sql.store import SqlStore
from tests.stores.test_service_engines import login, refresh


async def set_generation(store: Any, session_id: str, user_id: str, generation: int) -> None:
    """What a lost write leaves behind: the session as it was before."""
    if isinstance(store, MemoryStore):
        store.sessions[session_id] = dataclasses.replace(store.sessions[session_id], generation=generation)
    elif isinstance(store, SqlStore):
        async with store.engine.begin() as conn:
            await conn.execute(
                sa.text("UPDATE kt_sessions SET generation = :g WHERE id = :id"), {"g": generation, "id": session_id}
            )
    else:
        assert isinstance(store, RedisSessionStore)
        rewrite = layout.LUA + """
local s = decode(redis.call('HGET', KEYS[1], ARGV[1]))
s.gen = tonumber(ARGV[2])
redis.call('HSET', KEYS[1], ARGV[1], encode(s))
"""
        await store.client.eval(rewrite, 1, store._hash(user_id), session_id, str(generation))


async def events(rt: Runtime, kind: str) -> list[dict[str, Any]]:
    return [json.loads(e.detail) for e in await rt.stores.events.list_events() if e.type == kind]


async def test_one_generation_ahead_rolls_forward(
    make_runtime: Callable[..., Any], store: Any, clock: FrozenClock
) -> None:
    rt = await make_runtime()
    pair = await login(rt)
    clock.advance(5)
    first = await refresh(rt, pair.refresh_token)  # generation 1; the store then loses it
    await set_generation(store, pair.session_id, (await rt.stores.sessions.get_session(pair.session_id)).user_id, 0)
    clock.advance(5)
    healed = await refresh(rt, first.refresh_token)
    assert healed.refresh_token not in (pair.refresh_token, first.refresh_token)
    session = await rt.stores.sessions.get_session(pair.session_id)
    assert session.generation == 2 and session.revoked_at is None
    assert len(await events(rt, "store_rollback_healed")) == 1
    # The healed successor is the live token; the one before it is now the previous one.
    clock.advance(1)
    assert (await refresh(rt, healed.refresh_token)).refresh_token != healed.refresh_token
    clock.advance(20)
    with pytest.raises(RefreshTokenReused):
        await refresh(rt, first.refresh_token)


async def test_a_cold_replica_heals_too(make_runtime: Callable[..., Any], store: Any, clock: FrozenClock) -> None:
    a = await make_runtime()
    pair = await login(a)
    clock.advance(5)
    first = await refresh(a, pair.refresh_token)
    owner = (await a.stores.sessions.get_session(pair.session_id)).user_id
    await set_generation(store, pair.session_id, owner, 0)
    b = await make_runtime()  # knows nothing of the session
    healed = await refresh(b, first.refresh_token)
    assert (await b.stores.sessions.get_session(pair.session_id)).generation == 2
    retry = await refresh(a, first.refresh_token)  # the client's retry on the other replica converges
    assert retry.refresh_token == healed.refresh_token


async def test_two_generations_ahead_stays_invalid(
    make_runtime: Callable[..., Any], store: Any, clock: FrozenClock
) -> None:
    rt = await make_runtime()
    pair = await login(rt)
    clock.advance(5)
    first = await refresh(rt, pair.refresh_token)
    second = await refresh(rt, first.refresh_token)
    owner = (await rt.stores.sessions.get_session(pair.session_id)).user_id
    await set_generation(store, pair.session_id, owner, 0)
    with pytest.raises(RefreshTokenInvalid):
        await refresh(rt, second.refresh_token)
    session = await rt.stores.sessions.get_session(pair.session_id)
    assert session.generation == 0 and session.revoked_at is None
    assert await events(rt, "store_rollback_healed") == []
