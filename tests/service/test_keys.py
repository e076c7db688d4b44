"""The service's signing keys (``keyturn.service.keys``): the private half at
rest, rotation with overlap in the KeySet and through a running service,
replicas, revocation, the fail-closed signer, HS256 key strength, and the
``keyturn keys`` commands."""

from __future__ import annotations

import asyncio
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
from keyturn.errors import ConfigError, StoreUnavailable
from keyturn.service.keys import KEY_CHECK_INTERVAL, KeyCipher, KeySet, generate, load
from keyturn.service.masterkey import new_master_key
from keyturn.stores.memory import MemoryStore
from keyturn.stores.protocols import StoredKey
from tests.conftest import FAST_ARGON2_ENV, Api

NOW = 1_800_000_000.0


@pytest.mark.parametrize("alg", ["EdDSA", "ES256", "HS256"])
def test_private_half_is_encrypted(alg: str) -> None:
    cipher = KeyCipher(b"m" * 32)
    stored, key = generate(alg, cipher, NOW)
    assert b"PRIVATE KEY" not in stored.private_enc
    assert load(stored, cipher).kid == key.kid
    with pytest.raises(ConfigError, match="KEYTURN_MASTER_KEY"):
        load(stored, KeyCipher(b"n" * 32))


async def test_rotation_keeps_old_key_until_its_tokens_expire() -> None:
    repo = MemoryStore()
    keys = KeySet(repo, KeyCipher(b"m" * 32), "EdDSA", publish_for=1805, publish_ahead=30)
    await keys.ensure_active(NOW)
    old = keys.signer(NOW).kid
    new = (await keys.rotate(NOW + 10)).kid
    # Published at once, signing only from NOW + 10 + 30, when the old one stops.
    assert keys.get(new) is not None and new in keys.jwks_json.decode()
    assert keys.signer(NOW + 39.9).kid == old
    assert keys.signer(NOW + 40).kid == new != old
    assert keys.get(old) is not None  # still verifies tokens it signed
    # Kept until the last token it signed (just before NOW + 40) expired.
    await keys.reload(NOW + 40 + 1805 + KEY_CHECK_INTERVAL - 0.1)
    assert keys.get(old) is not None
    await keys.reload(NOW + 40 + 1805 + KEY_CHECK_INTERVAL)
    assert keys.get(old) is None and keys.get(new) is not None
    assert old not in keys.jwks_json.decode()


async def test_ensure_active_is_idempotent() -> None:
    repo = MemoryStore()
    keys = KeySet(repo, KeyCipher(b"m" * 32), "EdDSA", publish_for=1805)
    await keys.ensure_active(NOW)
    await keys.ensure_active(NOW + 1)
    assert len(await repo.list_keys()) == 1


async def test_a_replica_whose_key_checks_fail_stops_signing() -> None:
    keys = KeySet(MemoryStore(), KeyCipher(b"m" * 32), "EdDSA", publish_for=1805, publish_ahead=10)
    await keys.ensure_active(NOW)
    watch = asyncio.create_task(keys.watch())
    await asyncio.sleep(0)  # the watch has started: staleness now fails closed
    try:
        assert keys.signer(NOW).kid
        assert keys._loaded_mono is not None
        keys._loaded_mono -= 10.5  # as if every check for 10.5 s had failed
        with pytest.raises(StoreUnavailable):
            keys.signer(NOW)
        await keys.reload(NOW)
        assert keys.signer(NOW).kid
    finally:
        watch.cancel()


async def test_revoking_a_retired_key_leaves_the_signer_alone() -> None:
    keys = KeySet(MemoryStore(), KeyCipher(b"m" * 32), "EdDSA", publish_for=1805, publish_ahead=0)
    await keys.ensure_active(NOW)
    old = keys.signer(NOW).kid
    new = (await keys.rotate(NOW + 1)).kid
    assert await keys.revoke(old, NOW + 2) is None
    assert keys.signer(NOW + 2).kid == new and keys.is_revoked(old) and keys.get(old) is None
    with pytest.raises(KeyError):
        await keys.revoke(old, NOW + 3)
    replacement = await keys.revoke(new, NOW + 3)
    assert replacement is not None and keys.signer(NOW + 3).kid == replacement.kid


# --- through a running service ---------------------------------------------


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
    # Active until KEYTURN_KEY_PUBLISH_AHEAD has passed; that retirement is
    # ahead, so it is in the state, not under RETIRED (which is for the past).
    assert after[0]["state"].startswith("active until ") and after[0]["retired"] is None
    assert table[1].split()[3:] == ["active", "until", after[0]["state"].split()[-1], "-"]
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
