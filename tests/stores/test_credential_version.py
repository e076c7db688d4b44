"""A password change, a disable or a logout-all leaves no session behind,
even one whose login raced it: each user has a credential version, a session
keeps the one it was born with, and a stale session cannot refresh."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError

from keyturn.clock import FrozenClock
from keyturn.errors import InvalidCredentials, RateLimited, RefreshTokenInvalid, SessionRevoked, StoreUnavailable
from keyturn.service.tokens import TokenPair
from keyturn.service.wiring import Runtime
from tests.conftest import PASSWORD
from tests.stores.test_service_engines import login, refresh

NEW_PASSWORD = PASSWORD + "-new"


async def login_loop(rt: Runtime, name: str, stop: asyncio.Event, got: list[TokenPair]) -> None:
    """A thief logging in with the old password as fast as he can."""
    while not stop.is_set():
        try:
            got.append(await rt.service.login(name, PASSWORD, ip="192.0.2.66", user_agent="thief"))
        except (InvalidCredentials, RateLimited):  # the password changed, or he is throttled
            return
        except (DBAPIError, StoreUnavailable):
            # Concurrent failed logins on MariaDB can deadlock on the throttle
            # counter's insert (the throttle's own matter, not this race's).
            return
        await asyncio.sleep(0)


async def race(rt: Runtime, name: str, bump: Callable[[], Awaitable[Any]]) -> list[TokenPair]:
    stop = asyncio.Event()
    got: list[TokenPair] = []
    loops = [asyncio.create_task(login_loop(rt, name, stop, got)) for _ in range(4)]
    try:
        while len(got) < 4:  # the thief is in
            await asyncio.sleep(0)
        await bump()
    finally:
        stop.set()
        await asyncio.gather(*loops)
    return got


async def change_password(rt: Runtime, owner: TokenPair) -> None:
    claims = await rt.service.check_access(owner.access_token)
    await rt.service.change_password(claims, PASSWORD, NEW_PASSWORD)


async def logout_all(rt: Runtime, owner: TokenPair) -> None:
    await rt.service.logout_all(await rt.service.check_access(owner.access_token))


@pytest.mark.parametrize("what", ["password", "disable", "logout_all"])
async def test_no_session_born_before_or_racing_the_bump_stays_refreshable(
    make_runtime: Callable[..., Any], clock: FrozenClock, what: str
) -> None:
    rt = await make_runtime()
    name = "u" + secrets.token_hex(6)
    owner = await login(rt, name)
    bumps = {
        "password": lambda: change_password(rt, owner),
        "disable": lambda: rt.service.disable_user(name),
        "logout_all": lambda: logout_all(rt, owner),
    }
    stolen = await race(rt, name, bumps[what])
    assert len(stolen) >= 4
    clock.advance(1)
    survivors = []
    for pair in stolen:
        try:
            await refresh(rt, pair.refresh_token)
        except (SessionRevoked, RefreshTokenInvalid):
            continue
        survivors.append(pair.session_id)
    if what == "logout_all":
        # Logins after a logout-all are legitimate; those born before it are not.
        born_before = {p.session_id for p in stolen[:4]}
        assert born_before.isdisjoint(survivors)
    else:
        assert survivors == []


async def test_a_stale_session_is_session_revoked_and_the_changer_keeps_his(
    make_runtime: Callable[..., Any], clock: FrozenClock
) -> None:
    rt = await make_runtime()
    name = "u" + secrets.token_hex(6)
    owner = await login(rt, name)
    other = await rt.service.login(name, PASSWORD, ip="198.51.100.1", user_agent="other")
    await change_password(rt, owner)
    clock.advance(1)
    with pytest.raises(SessionRevoked):
        await refresh(rt, other.refresh_token)
    assert (await refresh(rt, owner.refresh_token)).session_id == owner.session_id
    fresh = await rt.service.login(name, NEW_PASSWORD, ip="198.51.100.1", user_agent="other")
    clock.advance(1)
    assert (await refresh(rt, fresh.refresh_token)).session_id == fresh.session_id


async def test_bump_stamps_the_kept_session_and_stales_the_rest(store: Any) -> None:
    """The store's own contract: one atomic bump."""
    from tests.stores.test_conformance import T0, add, new_user, rotate

    user = new_user()
    kept, other = await add(store, user), await add(store, user)
    await store.bump_credential_version(user, now=T0 + 1, keep=kept.id)
    assert await rotate(store, kept, 0, T0 + 2, user_id=user) is True
    assert await rotate(store, other, 0, T0 + 2, user_id=user) is False
    stale = await store.get_session(other.id, user_id=user)
    assert stale.revoked_at is not None
    assert (await store.get_session(kept.id)).revoked_at is None
    assert [s.id for s in await store.list_sessions(user, now=T0 + 3)] == [kept.id]
    born_after = await add(store, user, credential_version=await store.credential_version(user))
    assert await rotate(store, born_after, 0, T0 + 4, user_id=user) is True
