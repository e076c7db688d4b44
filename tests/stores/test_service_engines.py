"""The TokenService on top of every engine, on a frozen clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from keyturn.clock import FrozenClock
from keyturn.errors import RefreshTokenExpired, RefreshTokenInvalid, RefreshTokenReused, SessionRevoked, TokenRevoked
from keyturn.service.wiring import Runtime
from tests.conftest import PASSWORD


async def login(rt: Runtime, name: str = "alice") -> Any:
    await rt.service.create_user(name, PASSWORD)
    return await rt.service.login(name, PASSWORD, ip="203.0.113.7", user_agent="ua")


async def refresh(rt: Runtime, token: str) -> Any:
    return await rt.service.refresh(token, ip="203.0.113.7", user_agent="ua")


async def test_refresh_rotates_and_grace_retry_converges(make_runtime: Callable[..., Any], clock: FrozenClock) -> None:
    rt = await make_runtime()
    pair = await login(rt)
    clock.advance(60)
    first = await refresh(rt, pair.refresh_token)
    assert first.refresh_token != pair.refresh_token
    clock.advance(2)
    retry = await refresh(rt, pair.refresh_token)
    assert retry.refresh_token == first.refresh_token
    second = await refresh(rt, first.refresh_token)
    assert second.refresh_token not in (first.refresh_token, pair.refresh_token)


async def test_100_concurrent_refreshes_get_one_successor(make_runtime: Callable[..., Any], clock: FrozenClock) -> None:
    rt = await make_runtime()
    pair = await login(rt)
    clock.advance(1)
    answers = await asyncio.gather(*(refresh(rt, pair.refresh_token) for _ in range(100)))
    assert len({a.refresh_token for a in answers}) == 1
    session = await rt.stores.sessions.get_session(pair.session_id)
    assert session.generation == 1


async def test_cold_replica_converges_with_warm_one(make_runtime: Callable[..., Any], clock: FrozenClock) -> None:
    """Two services over one store (replicas): the second has no cached facts."""
    a = await make_runtime()
    b = await make_runtime()
    pair = await login(a)
    clock.advance(1)
    answers = await asyncio.gather(*(refresh(a if i % 2 else b, pair.refresh_token) for i in range(40)))
    assert len({x.refresh_token for x in answers}) == 1


async def test_reuse_outside_the_window_revokes_and_commits(make_runtime: Callable[..., Any], clock: FrozenClock) -> None:
    rt = await make_runtime()
    pair = await login(rt)
    new = await refresh(rt, pair.refresh_token)
    clock.advance(rt.settings.reuse_interval + 1)
    with pytest.raises(RefreshTokenReused):  # a copy, from another network
        await rt.service.refresh(pair.refresh_token, ip="198.51.100.66", user_agent="ua")
    with pytest.raises(SessionRevoked):
        await refresh(rt, new.refresh_token)
    session = await rt.stores.sessions.get_session(pair.session_id)
    assert session.revoke_reason == "reuse"


async def test_forged_token_changes_nothing(make_runtime: Callable[..., Any]) -> None:
    rt = await make_runtime()
    pair = await login(rt)
    forged = pair.refresh_token[:-2] + ("AA" if pair.refresh_token[-2:] != "AA" else "AQ")
    with pytest.raises(RefreshTokenInvalid):
        await refresh(rt, forged)
    assert (await refresh(rt, pair.refresh_token)).session_id == pair.session_id


async def test_idle_expiry(make_runtime: Callable[..., Any], clock: FrozenClock) -> None:
    rt = await make_runtime(refresh_token_ttl=600)
    pair = await login(rt)
    clock.advance(601)
    with pytest.raises(RefreshTokenExpired):
        await refresh(rt, pair.refresh_token)


async def test_absolute_expiry(make_runtime: Callable[..., Any], clock: FrozenClock) -> None:
    rt = await make_runtime(refresh_token_ttl=600, session_max_age=1000)
    pair = await login(rt)
    for _ in range(3):
        clock.advance(300)
        pair = await refresh(rt, pair.refresh_token)
    assert pair.refresh_expires_at == pair.session_expires_at
    clock.advance(101)
    with pytest.raises(RefreshTokenExpired):
        await refresh(rt, pair.refresh_token)


async def test_limit_of_one_logs_the_previous_device_out(make_runtime: Callable[..., Any], clock: FrozenClock) -> None:
    rt = await make_runtime(max_sessions_per_user=1)
    first = await login(rt)
    clock.advance(1)
    second = await rt.service.login("alice", PASSWORD, ip="203.0.113.7", user_agent="ua")
    with pytest.raises(SessionRevoked):
        await refresh(rt, first.refresh_token)
    assert (await refresh(rt, second.refresh_token)).session_id == second.session_id


async def test_logout_all_and_listing(make_runtime: Callable[..., Any], clock: FrozenClock) -> None:
    rt = await make_runtime()
    first = await login(rt)
    clock.advance(1)
    second = await rt.service.login("alice", PASSWORD, ip="203.0.113.7", user_agent="ua")
    claims = await rt.service.check_access(second.access_token)
    listed = await rt.service.list_sessions(claims.sub)
    assert [s.id for s in listed] == [second.session_id, first.session_id]
    assert sorted(await rt.service.logout_all(claims)) == sorted([first.session_id, second.session_id])
    with pytest.raises(TokenRevoked):
        await rt.service.check_access(first.access_token)
    assert await rt.service.list_sessions(claims.sub) == []
