"""Key rotation with overlap, key listing, HS256 key strength."""

from __future__ import annotations

import json

from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import orjson
import pytest
from typer.testing import CliRunner

from keyturn.cli import app as cli_app
from keyturn.config import load_settings
from keyturn.errors import ConfigError
from keyturn.stores.protocols import StoredKey
from keyturn.service.masterkey import new_master_key
from tests.conftest import FAST_ARGON2_ENV, Api


def kids(api_jwks: bytes) -> list[str]:
    return [k["kid"] for k in orjson.loads(api_jwks)["keys"]]


def header_kid(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


async def test_rotation_keeps_the_old_key_published_until_its_tokens_expired(
    make_api: Callable[..., Any],
) -> None:
    async with make_api(access_token_ttl=600, clock_leeway=5, key_publish_ahead=20) as api:
        new_kid = (await api.runtime.keys.rotate(api.clock.now())).kid
        # Published first; the old key keeps signing for the publish-ahead time.
        jwks = (await api.client.get("/.well-known/jwks.json")).content
        api.clock.advance(19)
        old = await api.user_and_login()
        old_kid = header_kid(old["access_token"])
        assert kids(jwks) == [old_kid, new_kid]
        api.clock.advance(1)
        fresh = (await api.refresh(old["refresh_token"])).json()
        assert header_kid(fresh["access_token"]) == new_kid
        # Tokens signed by the old key stay valid until they expire.
        api.clock.advance(598)
        await api.runtime.keys.reload(api.clock.now())
        assert (await api.get("/auth/me", old["access_token"])).status_code == 200
        assert old_kid in kids((await api.client.get("/.well-known/jwks.json")).content)
        # Then the key leaves the JWKS and its tokens are unknown.
        api.clock.advance(8)
        await api.runtime.keys.reload(api.clock.now())
        assert kids((await api.client.get("/.well-known/jwks.json")).content) == [new_kid]
        assert (await api.get("/auth/me", old["access_token"])).json()["code"] == "token_invalid"


async def test_scheduled_rotation(make_api: Callable[..., Any]) -> None:
    async with make_api(key_rotation_interval=3600, key_publish_ahead=60) as api:
        first = api.runtime.keys.active.kid
        await api.runtime.maintain()
        assert api.runtime.keys.active.kid == first
        api.clock.advance(3600)
        await api.runtime.maintain()
        api.clock.advance(59)
        await api.runtime.maintain()  # a key waiting to sign is not rotated again
        assert api.runtime.keys.active.kid == first
        assert len(api.runtime.keys.describe()) == 2
        api.clock.advance(1)
        assert api.runtime.keys.active.kid != first


async def test_replicas_pick_up_a_rotation_on_maintenance(make_api: Callable[..., Any], tmp_path: Path) -> None:
    shared = {"database_url": f"sqlite:///{tmp_path}/shared.db", "master_key": new_master_key(), "key_publish_ahead": 0}
    async with make_api(**shared) as one, make_api(**shared) as two:
        new_kid = (await one.runtime.keys.rotate(one.clock.now())).kid
        await two.runtime.maintain()
        assert two.runtime.keys.active.kid == new_kid


def test_cli_keys_rotate_and_list(tmp_path: Path) -> None:
    env = {"KEYTURN_DATABASE_URL": f"sqlite:///{tmp_path}/k.db", "KEYTURN_MASTER_KEY": new_master_key(), **FAST_ARGON2_ENV}
    runner = CliRunner()
    assert runner.invoke(cli_app, ["db", "upgrade"], env=env).exit_code == 0
    before = runner.invoke(cli_app, ["keys", "list", "--json"], env=env)
    assert before.exit_code == 0 and [k["state"] for k in json.loads(before.output)] == ["active"]
    rotated = runner.invoke(cli_app, ["keys", "rotate"], env=env)
    assert rotated.output.startswith("signs from ")
    new_kid = rotated.output.strip().split(": ")[1]
    table = runner.invoke(cli_app, ["keys", "list"], env=env).output.strip().splitlines()
    assert table[0].split() == ["KID", "ALG", "CREATED", "STATE", "RETIRED"]
    after = json.loads(runner.invoke(cli_app, ["keys", "list", "--json"], env=env).output)
    assert len(after) == 2
    assert after[0]["state"] == "active"  # until KEYTURN_KEY_PUBLISH_AHEAD has passed
    assert after[1]["kid"] == new_kid and after[1]["state"].startswith("signs from")
    revoked = runner.invoke(cli_app, ["keys", "revoke", new_kid], env=env)
    assert revoked.exit_code == 0 and f"revoked: {new_kid}" in revoked.output
    again = runner.invoke(cli_app, ["keys", "revoke", new_kid], env=env)
    assert again.exit_code == 1 and "already revoked" in again.output
    final = runner.invoke(cli_app, ["keys", "list", "--json"], env=env).output
    assert new_kid not in final


@pytest.mark.parametrize("secret", ["short", "x" * 31])
def test_a_short_hs256_secret_refuses_to_start(secret: str) -> None:
    with pytest.raises(ConfigError, match="KEYTURN_HS256_SECRET"):
        load_settings(hs256_secret=secret, signing_alg="HS256")


async def test_a_configured_hs256_secret_signs_the_tokens(make_api: Callable[..., Any]) -> None:
    secret = "s" * 40
    async with make_api(signing_alg="HS256", hs256_secret=secret) as api:
        tokens = await api.user_and_login()
        claims = jwt.decode(tokens["access_token"], secret, algorithms=["HS256"], audience="keyturn",
                            options={"verify_exp": False, "verify_iat": False})
        assert claims["sid"] == tokens["session_id"]
        assert orjson.loads((await api.client.get("/.well-known/jwks.json")).content) == {"keys": []}


async def test_a_stored_weak_hs256_key_refuses_to_start(make_api: Callable[..., Any], api: Api) -> None:
    keys = api.runtime.keys
    weak = StoredKey("weak", "HS256", keys._cipher.seal("weak", b"0123456789abcdef"), "{}", api.clock.now())
    await api.runtime.stores.keys.add_key(weak)
    with pytest.raises(ConfigError, match="256 bits"):
        await keys.reload(api.clock.now())
