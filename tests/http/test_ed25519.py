"""RFC 9864: ``Ed25519``, the fully-specified name of EdDSA on Ed25519, in
DPoP proofs and for access tokens; ``EdDSA`` keeps working."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from keyturn.config import Settings
from keyturn.config import load_settings
from keyturn.errors import ConfigError
from keyturn.resource.verifier import Verifier
from tests.conftest import Api
from tests.dpop_client import BASE, DpopKey, dpop_login


@pytest.mark.parametrize("alg", ["Ed25519", "EdDSA", "ES256"])
async def test_dpop_proofs_signed_as_ed25519_bind_refresh_and_prove(api: Api, alg: str) -> None:
    """RFC 9864 §2 (Ed25519 as a JWS alg) with RFC 9449 §4-§7: login,
    refresh (/auth/refresh and /oauth/token) and a protected call."""
    key = DpopKey(alg)
    tokens = await dpop_login(api, key)
    assert tokens["token_type"] == "DPoP"
    r = await api.refresh(tokens["refresh_token"],
                          headers={"dpop": key.proof("POST", f"{BASE}/auth/refresh", iat=api.clock.now())})
    assert r.status_code == 200, r.text
    r = await api.client.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": r.json()["refresh_token"]},
                              headers={"dpop": key.proof("POST", f"{BASE}/oauth/token", iat=api.clock.now())})
    assert r.status_code == 200, r.text
    access = r.json()["access_token"]
    proof = key.proof("GET", f"{BASE}/auth/me", iat=api.clock.now(), access_token=access)
    me = await api.client.get("/auth/me", headers={"authorization": f"DPoP {access}", "dpop": proof})
    assert me.status_code == 200, me.text
    # The Verifier accepts the same proof shape (a fresh one: the first is spent).
    verifier = Verifier(None, issuer=api.runtime.settings.issuer, audience=api.runtime.settings.audience, clock=api.clock,
                        revocations=False)
    verifier.load_jwks(orjson.loads(api.runtime.keys.jwks_json))
    proof = key.proof("GET", "http://rs.test/data", iat=api.clock.now(), access_token=access)
    claims = verifier.verify_request("GET", "http://rs.test/data", {"authorization": f"DPoP {access}", "dpop": proof})
    assert claims.cnf_jkt == key.jkt


async def test_an_ed25519_proof_from_an_ed448_key_is_refused(api: Api) -> None:
    """RFC 9864 §2: ``Ed25519`` names the Ed25519 curve only."""
    key = DpopKey("Ed25519")
    key.jwk = {**key.jwk, "crv": "Ed448"}
    r = await api.client.post("/auth/register", json={"username": "alice", "password": "correct horse battery staple"})
    r = await api.login(headers={"dpop": key.proof("POST", f"{BASE}/auth/login", iat=api.clock.now())})
    assert r.status_code == 401 and r.json()["code"] == "invalid_dpop_proof"


def test_dpop_algs_may_name_ed25519_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """KEYTURN_DPOP_ALGS accepts the RFC 9864 name; unknown names stay refused."""
    monkeypatch.setenv("KEYTURN_DPOP_ALGS", "Ed25519,ES256")
    assert load_settings().dpop_algs == ["Ed25519", "ES256"]
    monkeypatch.setenv("KEYTURN_DPOP_ALGS", "Ed448")
    with pytest.raises(ConfigError):
        load_settings()


async def test_proofs_outside_the_configured_algs_are_refused(make_api: Callable[..., Any]) -> None:
    async with make_api(dpop_algs=["ES256"]) as api:
        await api.register()
        key = DpopKey("Ed25519")
        r = await api.login(headers={"dpop": key.proof("POST", f"{BASE}/auth/login", iat=api.clock.now())})
        assert r.status_code == 401 and r.json()["code"] == "invalid_dpop_proof"


async def test_access_tokens_signed_as_ed25519(make_api: Callable[..., Any]) -> None:
    """RFC 9864 §2 + RFC 7517 §4.4: with ``signing_alg = Ed25519`` the token
    header and the JWKS entry both say ``Ed25519``; the Verifier and joserfc
    (which knows RFC 9864) verify it."""
    from joserfc import jwt as jose_jwt
    from joserfc.jwk import KeySet

    async with make_api(signing_alg="Ed25519") as api:
        tokens = await api.user_and_login()
        token = tokens["access_token"]
        jwks = orjson.loads(api.runtime.keys.jwks_json)
        assert [k["alg"] for k in jwks["keys"]] == ["Ed25519"]
        assert orjson.loads(b64json_part(token.split(".")[0]))["alg"] == "Ed25519"
        assert (await api.get("/auth/me", token)).status_code == 200
        verifier = Verifier(None, issuer=api.runtime.settings.issuer, audience=api.runtime.settings.audience, clock=api.clock,
                        revocations=False)
        verifier.load_jwks(jwks)
        assert verifier.verify(token).sid == tokens["session_id"]
        decoded = jose_jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["Ed25519"])
        assert decoded.claims["sid"] == tokens["session_id"]


async def test_switching_from_eddsa_to_ed25519_keeps_old_tokens_valid(make_settings: Callable[..., Settings],
                                                                       make_api: Callable[..., Any]) -> None:
    """A switch of name is no logout: EdDSA tokens signed before it verify
    until they expire, and new tokens say Ed25519."""
    settings = make_settings()
    async with make_api(database_url=settings.database_url, master_key=settings.master_key) as api:
        old = await api.user_and_login()
    async with make_api(database_url=settings.database_url, master_key=settings.master_key, signing_alg="Ed25519") as api:
        assert (await api.get("/auth/me", old["access_token"])).status_code == 200
        new = (await api.refresh(old["refresh_token"])).json()
        assert orjson.loads(b64json_part(new["access_token"].split(".")[0]))["alg"] == "Ed25519"
        assert (await api.get("/auth/me", new["access_token"])).status_code == 200


def b64json_part(part: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_the_verifier_refuses_an_ed25519_jwk_on_another_curve() -> None:
    verifier = Verifier(None, issuer="i", audience="a", revocations=False)
    assert verifier.load_jwks({"keys": [{"kty": "OKP", "crv": "Ed448", "alg": "Ed25519", "kid": "k", "x": "AAAA"}]}) == 0

