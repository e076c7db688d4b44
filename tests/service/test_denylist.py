"""Every way a session ends kills its access tokens at once (the denylist),
and the check fails closed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from keyturn.core.denylist import session_key
from tests.conftest import PASSWORD, Api


async def assert_dead(api: Api, access: str) -> None:
    r = await api.get("/auth/me", access)
    assert r.status_code == 401, r.text
    assert r.json()["code"] == "token_revoked"


async def assert_alive(api: Api, access: str) -> None:
    r = await api.get("/auth/me", access)
    assert r.status_code == 200, r.text


async def two_sessions(api: Api) -> tuple[dict[str, Any], dict[str, Any]]:
    a = await api.user_and_login()
    b = (await api.login()).json()
    return a, b


async def test_logout(api: Api) -> None:
    a, b = await two_sessions(api)
    assert (await api.post("/auth/logout", a["access_token"])).status_code == 204
    await assert_dead(api, a["access_token"])
    await assert_alive(api, b["access_token"])


async def test_logout_all(api: Api) -> None:
    a, b = await two_sessions(api)
    assert (await api.post("/auth/logout-all", a["access_token"])).status_code == 204
    await assert_dead(api, a["access_token"])
    await assert_dead(api, b["access_token"])


async def test_logout_others(api: Api) -> None:
    a, b = await two_sessions(api)
    assert (await api.post("/auth/logout-others", a["access_token"])).status_code == 204
    await assert_alive(api, a["access_token"])
    await assert_dead(api, b["access_token"])


async def test_session_revocation(api: Api) -> None:
    a, b = await two_sessions(api)
    r = await api.client.delete(f"/auth/sessions/{b['session_id']}", headers={"authorization": f"Bearer {a['access_token']}"})
    assert r.status_code == 204
    await assert_dead(api, b["access_token"])
    await assert_alive(api, a["access_token"])


async def test_admin_revocation(api: Api) -> None:
    a = await api.user_and_login()
    assert await api.runtime.service.end_session(a["session_id"], reason="admin")
    await assert_dead(api, a["access_token"])


async def test_eviction_by_max_sessions(make_api: Callable[..., Any]) -> None:
    async with make_api(max_sessions_per_user=1) as api:
        a, b = await two_sessions(api)
        await assert_dead(api, a["access_token"])
        await assert_alive(api, b["access_token"])


async def test_reuse_detection(make_api: Callable[..., Any]) -> None:
    async with make_api(reuse_interval=0) as api:
        a = await api.user_and_login()
        api.clock.advance(1)
        new = (await api.refresh(a["refresh_token"])).json()
        api.clock.advance(1)
        # Another program replays it (the same one would be a lost answer's retry).
        r = await api.refresh(a["refresh_token"], headers={"user-agent": "thief/1"})
        assert r.json()["code"] == "refresh_token_reused"
        await assert_dead(api, a["access_token"])
        await assert_dead(api, new["access_token"])


async def test_password_change_ends_every_other_session(api: Api) -> None:
    a, b = await two_sessions(api)
    new_password = "an entirely new passphrase"
    r = await api.post("/auth/password", a["access_token"],
                       json={"current_password": PASSWORD, "new_password": new_password})
    assert r.status_code == 204
    await assert_alive(api, a["access_token"])
    await assert_dead(api, b["access_token"])
    assert (await api.refresh(b["refresh_token"])).json()["code"] == "session_revoked"
    assert (await api.login("alice", PASSWORD)).status_code == 401
    assert (await api.login("alice", new_password)).status_code == 200


async def test_password_change_needs_the_current_password(api: Api) -> None:
    a, b = await two_sessions(api)
    r = await api.post("/auth/password", a["access_token"],
                       json={"current_password": "not the password", "new_password": "an entirely new passphrase"})
    assert r.status_code == 401
    await assert_alive(api, b["access_token"])


async def test_disabling_a_user_ends_all_sessions(api: Api) -> None:
    a, b = await two_sessions(api)
    await api.runtime.service.disable_user("alice")
    await assert_dead(api, a["access_token"])
    await assert_dead(api, b["access_token"])
    assert (await api.refresh(a["refresh_token"])).json()["code"] == "session_revoked"
    r = await api.login()
    assert r.status_code == 401 and r.json()["code"] == "invalid_credentials"


async def test_entries_live_exactly_as_long_as_the_tokens(make_api: Callable[..., Any]) -> None:
    async with make_api(access_token_ttl=60, clock_leeway=5) as api:
        a = await api.user_and_login()
        await api.post("/auth/logout", a["access_token"])
        security, key, now = api.runtime.stores.security, session_key(a["session_id"]), api.clock.now()
        assert await security.any_denied([key], now=now + 64.999)
        assert not await security.any_denied([key], now=now + 65)
        api.clock.advance(65)
        r = await api.get("/auth/me", a["access_token"])
        # The entry left only once the token itself expired.
        assert r.status_code == 401 and r.json()["code"] == "token_expired"


@pytest.mark.parametrize("path", ["/auth/me", "/auth/sessions"])
async def test_an_unreadable_denylist_fails_closed(make_api: Callable[..., Any], path: str) -> None:
    async with make_api(database_url="memory:") as api:
        a = await api.user_and_login()
        api.runtime.stores.security.down = True
        r = await api.get(path, a["access_token"])
        assert r.status_code == 503
        assert r.json()["code"] == "store_unavailable"


async def test_access_tokens_never_outlive_their_session(make_api: Callable[..., Any]) -> None:
    async with make_api(access_token_ttl=3600, session_max_age=600, refresh_token_ttl=600) as api:
        a = await api.user_and_login()
        assert a["expires_in"] == 600
