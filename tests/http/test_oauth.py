"""RFC 7009 revocation, RFC 7662 introspection, resource-server clients."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from keyturn.cli import app as cli_app
from keyturn.errors import InvalidClient
from keyturn.service.masterkey import new_master_key
from keyturn.core.credentials import basic_credentials as parse_basic
from keyturn.service.resource_clients import authenticate_client, new_client
from keyturn.stores.memory import MemorySecurityStore
from tests.conftest import FAST_ARGON2_ENV, Api


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


async def add_client(api: Api) -> dict[str, str]:
    client, secret = new_client("billing", api.clock.now())
    await api.runtime.stores.clients.add_client(client)
    return basic(client.id, secret)


async def introspect(api: Api, token: str, auth: dict[str, str]) -> Any:
    return await api.client.post("/oauth/introspect", data={"token": token}, headers=auth)


async def revoke(api: Api, token: str, hint: str | None = None) -> Any:
    data = {"token": token} | ({"token_type_hint": hint} if hint else {})
    return await api.client.post("/oauth/revoke", data=data)


async def test_revoking_a_refresh_token_ends_its_session_and_access_tokens(api: Api) -> None:
    tokens = await api.user_and_login()
    r = await revoke(api, tokens["refresh_token"], "refresh_token")
    assert r.status_code == 200
    assert (await api.refresh(tokens["refresh_token"])).json()["code"] == "session_revoked"
    assert (await api.get("/auth/me", tokens["access_token"])).json()["code"] == "token_revoked"


async def test_revoking_an_access_token_kills_only_that_token(api: Api) -> None:
    tokens = await api.user_and_login()
    assert (await revoke(api, tokens["access_token"], "access_token")).status_code == 200
    assert (await api.get("/auth/me", tokens["access_token"])).json()["code"] == "token_revoked"
    fresh = (await api.refresh(tokens["refresh_token"])).json()
    assert (await api.get("/auth/me", fresh["access_token"])).status_code == 200


@pytest.mark.parametrize("hint", [None, "access_token", "refresh_token", "bogus"])
async def test_the_hint_is_only_a_hint(api: Api, hint: str | None) -> None:
    tokens = await api.user_and_login()
    assert (await revoke(api, tokens["refresh_token"], hint)).status_code == 200
    assert (await api.refresh(tokens["refresh_token"])).json()["code"] == "session_revoked"


@pytest.mark.parametrize("token", ["garbage", "krt_" + "A" * 22 + "_" + "A" * 48, "a.b.c", "x" * 5000])
async def test_unknown_or_invalid_tokens_get_200(api: Api, token: str) -> None:
    victim = await api.user_and_login()
    r = await revoke(api, token)
    assert r.status_code == 200 and r.content == b""
    assert (await api.refresh(victim["refresh_token"])).status_code == 200


async def test_a_guessed_refresh_token_for_a_real_session_changes_nothing(api: Api) -> None:
    victim = await api.user_and_login()
    assert (await revoke(api, f"krt_{victim['session_id']}_{'A' * 48}")).status_code == 200
    assert (await api.refresh(victim["refresh_token"])).status_code == 200


async def test_revoke_without_a_token_is_400(api: Api) -> None:
    r = await api.client.post("/oauth/revoke", data={"token_type_hint": "access_token"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


@pytest.mark.parametrize("auth", ["none", "wrong secret", "unknown id", "bearer", "garbled"])
async def test_introspection_needs_an_authenticated_client(api: Api, auth: str) -> None:
    tokens = await api.user_and_login()
    good = await add_client(api)
    client_id = base64.b64decode(good["authorization"][6:]).decode().split(":")[0]
    headers = {
        "none": {},
        "wrong secret": basic(client_id, "kcs_wrong"),
        "unknown id": basic("kc_nobody", "kcs_wrong"),
        "bearer": {"authorization": f"Bearer {tokens['access_token']}"},
        "garbled": {"authorization": "Basic !!!"},
    }[auth]
    r = await introspect(api, tokens["access_token"], headers)
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client"
    assert r.headers["www-authenticate"].startswith("Basic")


async def test_introspection_of_live_tokens(api: Api) -> None:
    tokens = await api.user_and_login()
    auth = await add_client(api)
    at = (await introspect(api, tokens["access_token"], auth)).json()
    assert at["active"] is True and at["sid"] == tokens["session_id"] and at["token_type"] == "Bearer"
    rt = (await introspect(api, tokens["refresh_token"], auth)).json()
    assert rt["active"] is True and rt["token_use"] == "refresh_token" and rt["sid"] == tokens["session_id"]


@pytest.mark.parametrize("case", ["garbage", "rotated out", "revoked access", "revoked refresh", "expired", "forged"])
async def test_inactive_tokens_say_nothing_else(api: Api, case: str) -> None:
    tokens = await api.user_and_login()
    auth = await add_client(api)
    token = tokens["access_token"]
    if case == "garbage":
        token = "not a token"
    elif case == "rotated out":
        await api.refresh(tokens["refresh_token"])
        token = tokens["refresh_token"]
    elif case == "revoked access":
        await api.post("/auth/logout", tokens["access_token"])
    elif case == "revoked refresh":
        await api.post("/auth/logout", tokens["access_token"])
        token = tokens["refresh_token"]
    elif case == "expired":
        api.clock.advance(api.runtime.settings.access_token_ttl + 60)
    elif case == "forged":
        head, body, sig = token.split(".")
        token = f"{head}.{body}.{sig[::-1]}"
    r = await introspect(api, token, auth)
    assert r.status_code == 200
    assert r.json() == {"active": False}


async def test_introspection_has_no_side_effects(api: Api) -> None:
    tokens = await api.user_and_login()
    auth = await add_client(api)
    new = (await api.refresh(tokens["refresh_token"])).json()
    api.clock.advance(60)
    assert (await introspect(api, tokens["refresh_token"], auth)).json() == {"active": False}
    assert (await api.refresh(new["refresh_token"])).status_code == 200  # no reuse revocation


async def test_authenticate_client_function() -> None:
    store = MemorySecurityStore()
    client, secret = new_client("feed", 0.0)
    await store.add_client(client)
    assert secret not in client.secret_hash
    assert (await authenticate_client(store, client.id, secret)).name == "feed"
    for cid, sec in [(client.id, secret + "x"), ("kc_x", secret), (None, secret), (client.id, None)]:
        with pytest.raises(InvalidClient):
            await authenticate_client(store, cid, sec)
    assert parse_basic("Basic " + base64.b64encode(b"a%3Ab:c%20d").decode()) == ("a:b", "c d")
    assert parse_basic("Bearer x") is None


def test_cli_clients_add_prints_id_and_secret_and_stores_only_a_hash(tmp_path: Path) -> None:
    env = {"KEYTURN_DATABASE_URL": f"sqlite:///{tmp_path}/k.db", "KEYTURN_MASTER_KEY": new_master_key(), **FAST_ARGON2_ENV}
    out = CliRunner().invoke(cli_app, ["clients", "add", "billing"], env=env)
    assert out.exit_code == 0, out.output
    lines = dict(line.split(": ", 1) for line in out.output.strip().splitlines())
    assert lines["client_id"].startswith("kc_") and lines["client_secret"].startswith("kcs_")
    assert lines["client_secret"].encode() not in (tmp_path / "k.db").read_bytes()
    listed = CliRunner().invoke(cli_app, ["clients", "list"], env=env)
    assert lines["client_id"] in listed.output and lines["client_secret"] not in listed.output


async def test_disabled_clients_cannot_introspect(make_api: Callable[..., Any]) -> None:
    import dataclasses

    async with make_api(database_url="memory:") as api:
        tokens = await api.user_and_login()
        client, secret = new_client("old", api.clock.now())
        await api.runtime.stores.clients.add_client(dataclasses.replace(client, disabled=True))
        r = await introspect(api, tokens["access_token"], basic(client.id, secret))
        assert r.status_code == 401


async def test_registered_clients_can_read_the_revocation_feed(api: Api) -> None:
    auth = await add_client(api)
    assert (await api.client.get("/auth/revocations")).status_code == 401
    r = await api.client.get("/auth/revocations", headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["revoked"] == []
