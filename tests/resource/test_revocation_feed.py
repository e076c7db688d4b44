"""GET /auth/revocations: every revocation point feeds it; only resource
clients read it."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.conftest import PASSWORD, Api

CLIENTS = "rs1:s3cret-one,rs2:s3cret-two"


def basic(cid: str = "rs1", secret: str = "s3cret-one") -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{cid}:{secret}".encode()).decode()}


async def feed(api: Api, since: str = "", **params: Any) -> dict[str, Any]:
    r = await api.client.get("/auth/revocations", params={"since": since, **params}, headers=basic())
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def revoke_by_logout(api: Api, t: dict[str, Any]) -> None:
    assert (await api.post("/auth/logout", t["access_token"])).status_code == 204


async def revoke_by_logout_all(api: Api, t: dict[str, Any]) -> None:
    assert (await api.post("/auth/logout-all", t["access_token"])).status_code == 204


async def revoke_by_logout_others(api: Api, t: dict[str, Any]) -> None:
    other = (await api.login()).json()
    assert (await api.post("/auth/logout-others", other["access_token"])).status_code == 204


async def revoke_by_password_change(api: Api, t: dict[str, Any]) -> None:
    other = (await api.login()).json()
    r = await api.client.post("/auth/password", headers={"authorization": f"Bearer {other['access_token']}"},
                              json={"current_password": PASSWORD, "new_password": PASSWORD + "!"})
    assert r.status_code == 204


async def revoke_by_reuse(api: Api, t: dict[str, Any]) -> None:
    assert (await api.refresh(t["refresh_token"])).status_code == 200
    api.clock.advance(api.runtime.settings.reuse_interval + 1)
    r = await api.refresh(t["refresh_token"], headers={"user-agent": "thief/1"})  # a copy, from another program
    assert r.json()["code"] == "refresh_token_reused"


async def revoke_by_delete(api: Api, t: dict[str, Any]) -> None:
    other = (await api.login()).json()
    r = await api.client.delete(f"/auth/sessions/{t['session_id']}", headers={"authorization": f"Bearer {other['access_token']}"})
    assert r.status_code == 204


async def revoke_by_admin(api: Api, t: dict[str, Any]) -> None:
    assert await api.runtime.service.admin_revoke_session(t["session_id"])


async def revoke_by_disable(api: Api, t: dict[str, Any]) -> None:
    await api.runtime.service.disable_user("alice")


async def revoke_by_eviction(api: Api, t: dict[str, Any]) -> None:
    assert (await api.login()).status_code == 200  # max_sessions_per_user=1 below


POINTS: dict[str, Callable[[Api, dict[str, Any]], Awaitable[None]]] = {
    "logout": revoke_by_logout, "logout_all": revoke_by_logout_all, "logout_others": revoke_by_logout_others,
    "password_change": revoke_by_password_change, "reuse": revoke_by_reuse, "delete_session": revoke_by_delete,
    "admin": revoke_by_admin, "disable": revoke_by_disable, "eviction": revoke_by_eviction,
}


@pytest.mark.parametrize("point", sorted(POINTS))
async def test_every_revocation_point_reaches_the_feed(make_api: Callable[..., Any], point: str) -> None:
    extra = {"max_sessions_per_user": 1} if point == "eviction" else {}
    async with make_api(resource_clients=CLIENTS, **extra) as api:
        tokens = await api.user_and_login()
        assert (await feed(api))["revoked"] == []
        await POINTS[point](api, tokens)
        body = await feed(api)
        ttl = api.runtime.settings.access_token_ttl + api.runtime.settings.clock_leeway
        assert {"sid": tokens["session_id"], "exp": int(api.clock.now()) + ttl} in body["revoked"]


async def test_the_cursor_moves_past_settled_entries(make_api: Callable[..., Any]) -> None:
    async with make_api(resource_clients=CLIENTS) as api:
        tokens = await api.user_and_login()
        await revoke_by_logout(api, tokens)
        young = await feed(api)
        assert len(young["revoked"]) == 1
        again = await feed(api, young["cursor"])
        assert len(again["revoked"]) == 1  # not settled yet: delivered again, harmlessly
        api.clock.advance(6)
        settled = await feed(api, again["cursor"])
        assert len(settled["revoked"]) == 1
        assert (await feed(api, settled["cursor"]))["revoked"] == []


async def test_entries_leave_the_feed_when_their_tokens_have_expired(make_api: Callable[..., Any]) -> None:
    async with make_api(resource_clients=CLIENTS, access_token_ttl=60) as api:
        await revoke_by_logout(api, await api.user_and_login())
        api.clock.advance(60 + 5)
        assert (await feed(api))["revoked"] == []


async def test_long_poll_returns_when_a_revocation_happens(make_api: Callable[..., Any]) -> None:
    async with make_api(resource_clients=CLIENTS) as api:
        tokens = await api.user_and_login()
        start = await feed(api)
        waiting = asyncio.create_task(feed(api, start["cursor"], wait=20))
        await asyncio.sleep(0.2)
        assert not waiting.done()
        await revoke_by_logout(api, tokens)
        body = await asyncio.wait_for(waiting, 10)
        assert [e["sid"] for e in body["revoked"]] == [tokens["session_id"]]


@pytest.mark.parametrize("headers", [
    {}, basic("rs1", "wrong"), basic("rs3", "s3cret-one"), basic("rs1", "s3cret-two"),
    {"authorization": "Basic !!!"}, {"authorization": "Bearer x"},
])
async def test_only_resource_clients_may_read(make_api: Callable[..., Any], headers: dict[str, str]) -> None:
    async with make_api(resource_clients=CLIENTS) as api:
        r = await api.client.get("/auth/revocations", headers=headers)
        assert r.status_code == 401
        assert r.json()["code"] == "invalid_client"
        assert r.headers["www-authenticate"].startswith("Basic ")


async def test_the_second_client_reads_too(make_api: Callable[..., Any]) -> None:
    async with make_api(resource_clients=CLIENTS) as api:
        r = await api.client.get("/auth/revocations", headers=basic("rs2", "s3cret-two"))
        assert r.status_code == 200


@pytest.mark.parametrize("params", [{"since": "x"}, {"since": "5.2"}, {"since": "1.2.3"}, {"wait": "soon"},
                                    {"wait": "-1"}, {"wait": "nan"}])
async def test_bad_parameters_are_400(make_api: Callable[..., Any], params: dict[str, str]) -> None:
    async with make_api(resource_clients=CLIENTS) as api:
        r = await api.client.get("/auth/revocations", params=params, headers=basic())
        assert r.status_code == 400
        assert r.json()["code"] == "invalid_request"


def test_a_malformed_client_list_is_a_config_error(make_settings: Callable[..., Any]) -> None:
    from keyturn.config import load_settings
    from keyturn.errors import ConfigError

    with pytest.raises(ConfigError, match="KEYTURN_RESOURCE_CLIENTS") as exc:
        load_settings(resource_clients="rs1:ok,lonely")
    assert "lonely" not in str(exc.value)
