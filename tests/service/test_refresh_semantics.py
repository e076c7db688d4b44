"""Refresh semantics 1-4 and 7 (docs/concepts.md), on every in-process
engine, with a frozen clock (no sleeps)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from keyturn import errors
from keyturn.clock import FrozenClock
from keyturn.service.wiring import Runtime
from tests.service.conftest import login, new_user

IP = "203.0.113.7"


async def refresh(rt: Runtime, token: str, ip: str = IP) -> Any:
    return await rt.service.refresh(token, ip=ip, user_agent="test")


async def test_rotation_slides_idle_expiry(rt: Runtime, clock: FrozenClock) -> None:
    await new_user(rt)
    pair = await login(rt)
    assert pair.refresh_expires_at == clock.now() + rt.settings.refresh_token_ttl
    clock.advance(3600)
    new = await refresh(rt, pair.refresh_token)
    assert new.refresh_token != pair.refresh_token
    assert new.refresh_expires_at == clock.now() + rt.settings.refresh_token_ttl
    assert new.session_expires_at == pair.session_expires_at
    session = await rt.stores.sessions.get_session(pair.session_id)
    assert session is not None and session.generation == 1


async def test_idle_expiry_never_passes_absolute(make_runtime: Callable[..., Any], clock: FrozenClock) -> None:
    async with make_runtime(refresh_token_ttl=100, session_max_age=250, reuse_interval=0) as rt:
        await new_user(rt)
        pair = await login(rt)
        clock.advance(90)
        pair = await refresh(rt, pair.refresh_token)
        clock.advance(90)
        pair = await refresh(rt, pair.refresh_token)
        assert pair.refresh_expires_at == pair.session_expires_at  # capped at 250
        clock.advance(71)
        with pytest.raises(errors.RefreshTokenExpired):
            await refresh(rt, pair.refresh_token)


async def test_idle_expiry(make_runtime: Callable[..., Any], clock: FrozenClock) -> None:
    async with make_runtime(refresh_token_ttl=100) as rt:
        await new_user(rt)
        pair = await login(rt)
        clock.advance(100)
        with pytest.raises(errors.RefreshTokenExpired):
            await refresh(rt, pair.refresh_token)


async def test_grace_retry_gets_the_same_successor(rt: Runtime, clock: FrozenClock) -> None:
    await new_user(rt)
    pair = await login(rt)
    first = await refresh(rt, pair.refresh_token)
    clock.advance(rt.settings.reuse_interval)
    again = await refresh(rt, pair.refresh_token)
    assert again.refresh_token == first.refresh_token
    assert again.access_token != first.access_token  # a fresh access token
    # The successor is still the live token: it rotates normally.
    nxt = await refresh(rt, first.refresh_token)
    assert nxt.refresh_token not in (first.refresh_token, pair.refresh_token)


async def test_previous_token_after_window_revokes_session(rt: Runtime, clock: FrozenClock) -> None:
    """From another network: the same client's late retry is a lost answer
    (tests/stores/test_lost_answer.py)."""
    await new_user(rt)
    pair = await login(rt)
    live = await refresh(rt, pair.refresh_token)
    clock.advance(rt.settings.reuse_interval + 0.5)
    with pytest.raises(errors.RefreshTokenReused):
        await refresh(rt, pair.refresh_token, ip="198.51.100.66")
    session = await rt.stores.sessions.get_session(pair.session_id)
    assert session is not None and session.revoke_reason == "reuse"  # committed
    with pytest.raises(errors.SessionRevoked):
        await refresh(rt, live.refresh_token)


async def test_stale_lineage_revokes(rt: Runtime, clock: FrozenClock) -> None:
    await new_user(rt)
    rt1 = await login(rt)
    rt2 = await refresh(rt, rt1.refresh_token)
    clock.advance(1)
    rt3 = await refresh(rt, rt2.refresh_token)
    clock.advance(1)
    with pytest.raises(errors.RefreshTokenReused):
        await refresh(rt, rt1.refresh_token)  # two generations old, inside the window
    with pytest.raises(errors.SessionRevoked):
        await refresh(rt, rt3.refresh_token)


async def test_reuse_event_carries_both_sides(rt: Runtime, clock: FrozenClock) -> None:
    await new_user(rt)
    pair = await login(rt)
    await rt.service.refresh(pair.refresh_token, ip="203.0.113.8", user_agent="victim")
    clock.advance(60)
    with pytest.raises(errors.RefreshTokenReused):
        await rt.service.refresh(pair.refresh_token, ip="198.51.100.66", user_agent="thief")
    events = [e for e in await rt.stores.events.list_events() if e.type == "refresh_token_reused"]
    assert len(events) == 1
    import json

    detail = json.loads(events[0].detail)
    assert detail["holder"]["ip"] == "203.0.113.8" and detail["holder"]["user_agent"] == "victim"
    assert detail["presenter"]["ip"] == "198.51.100.66" and detail["presenter"]["user_agent"] == "thief"


@pytest.mark.parametrize("tamper", ["flip_secret", "other_generation_mac", "wrong_session"])
async def test_guess_changes_nothing(rt: Runtime, clock: FrozenClock, tamper: str) -> None:
    await new_user(rt)
    pair = await login(rt)
    token = pair.refresh_token
    if tamper == "flip_secret":
        guess = token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:]
    elif tamper == "other_generation_mac":
        guess = token[:27] + "AAAB" + token[31:]  # claims generation 1 with generation 0's MAC
    else:
        other = await login(rt)
        guess = token[:26] + other.refresh_token[26:]
    with pytest.raises(errors.RefreshTokenInvalid):
        await refresh(rt, guess)
    # The victim's session lives on, untouched.
    session = await rt.stores.sessions.get_session(pair.session_id)
    assert session is not None and session.revoked_at is None and session.generation == 0
    assert (await refresh(rt, token)).session_id == pair.session_id


@pytest.mark.parametrize("engine", ["memory"])  # its outage switch; SQL outages: tests/stores
async def test_store_error_never_revokes_or_consumes(engine: str, rt: Runtime, clock: FrozenClock) -> None:
    await new_user(rt)
    pair = await login(rt)
    rt.stores.sessions.down = True
    with pytest.raises(errors.StoreUnavailable):
        await refresh(rt, pair.refresh_token)
    rt.stores.sessions.down = False
    session = await rt.stores.sessions.get_session(pair.session_id)
    assert session is not None and session.revoked_at is None and session.generation == 0
    clock.advance(rt.settings.reuse_interval + 1)
    assert (await refresh(rt, pair.refresh_token)).session_id == pair.session_id


async def test_max_sessions_one_signs_the_older_out(make_runtime: Callable[..., Any]) -> None:
    async with make_runtime(max_sessions_per_user=1) as rt:
        await new_user(rt)
        old = await login(rt)
        new = await login(rt)
        with pytest.raises(errors.SessionRevoked):
            await refresh(rt, old.refresh_token)
        assert (await refresh(rt, new.refresh_token)).session_id == new.session_id


async def test_max_sessions_evicts_least_recently_used(make_runtime: Callable[..., Any], clock: FrozenClock) -> None:
    async with make_runtime(max_sessions_per_user=2) as rt:
        await new_user(rt)
        a = await login(rt)
        clock.advance(1)
        b = await login(rt)
        clock.advance(1)
        a2 = await refresh(rt, a.refresh_token)  # a is now the most recently used
        clock.advance(1)
        c = await login(rt)
        with pytest.raises(errors.SessionRevoked):
            await refresh(rt, b.refresh_token)
        assert (await refresh(rt, a2.refresh_token)).session_id == a.session_id
        assert (await refresh(rt, c.refresh_token)).session_id == c.session_id
        events = [e.type for e in await rt.stores.events.list_events()]
        assert "session_evicted" in events


async def test_unlimited_by_default(rt: Runtime) -> None:
    user_id = await new_user(rt, "bob")
    for _ in range(5):
        await login(rt, "bob")
    assert len(await rt.service.list_sessions(user_id)) == 5


async def test_logout_kills_refresh(rt: Runtime) -> None:
    await new_user(rt)
    pair = await login(rt)
    claims = await rt.service.check_access(pair.access_token)
    await rt.service.logout(claims)
    with pytest.raises(errors.SessionRevoked):
        await refresh(rt, pair.refresh_token)
    with pytest.raises(errors.TokenRevoked):
        await rt.service.check_access(pair.access_token)


async def test_cold_cache_path_matches_warm(rt: Runtime, clock: FrozenClock) -> None:
    """The per-process facts cache is an optimisation only: a fresh process
    (empty cache) decides the same way."""
    await new_user(rt)
    pair = await login(rt)
    first = await refresh(rt, pair.refresh_token)
    rt.service.facts.clear()
    again = await refresh(rt, pair.refresh_token)
    assert again.refresh_token == first.refresh_token
    rt.service.facts.clear()
    clock.advance(60)
    with pytest.raises(errors.RefreshTokenReused):
        await refresh(rt, pair.refresh_token, ip="198.51.100.66")
