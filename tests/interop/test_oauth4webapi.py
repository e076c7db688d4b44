"""oauth4webapi and jose (npm, unmodified) against a real keyturn, on SQLite
and on PostgreSQL + Redis. Each test names the RFC section it holds keyturn to.

The two ``validateJwtAccessToken`` tests hold keyturn to the RFC 9068 §2.2
``client_id`` claim (REQUIRED there, and by oauth4webapi).
"""

from __future__ import annotations

import base64
import json
import subprocess
import time

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.interop.conftest import BOUND, HERE, RS_ID, RS_SECRET, Deployment

pytestmark = pytest.mark.slow


def header(token: str) -> dict[str, str]:
    part = token.split(".")[0]
    out: dict[str, str] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return out


def test_discovery_rfc8414_section_3(deployment: Deployment) -> None:
    """RFC 8414 §3.1-§3.3: oauth4webapi discovers from the issuer URL and
    checks the metadata's issuer is exactly it."""
    out = deployment.node("discover")
    assert out["ok"], out
    meta = out["as"]
    assert meta["issuer"] == deployment.url
    assert meta["token_endpoint"] == deployment.url + "/oauth/token"
    assert "Ed25519" in meta["dpop_signing_alg_values_supported"]


def test_refresh_grant_public_client_rfc6749_section_6(deployment: Deployment) -> None:
    """RFC 6749 §6 and §5.1 with a public client (``none``, RFC 6749 §2.1)."""
    tokens = deployment.login()
    out = deployment.node("refresh", refresh_token=tokens["refresh_token"], client_auth="none")
    assert out["ok"], out
    assert out["token_type"].lower() == "bearer" and out["me_status"] == 200
    assert out["refresh_token"] != tokens["refresh_token"]


@pytest.mark.parametrize("method", ["basic", "post"])
def test_refresh_grant_authenticated_client_rfc6749_section_2_3_1(deployment: Deployment, method: str) -> None:
    """RFC 6749 §2.3.1: client_secret_basic and client_secret_post work;
    a wrong secret is 401 ``invalid_client`` (§5.2), never ignored — with a
    Basic challenge for the header method, which oauth4webapi reports as
    such, and in the body alone for the form method."""
    tokens = deployment.login()
    wrong = deployment.node("refresh", refresh_token=tokens["refresh_token"], client_id=RS_ID,
                            client_auth=method, client_secret="wrong-secret")
    assert not wrong["ok"] and wrong["status"] == 401, wrong
    if method == "basic":
        assert wrong["code"] == "OAUTH_WWW_AUTHENTICATE_CHALLENGE" and wrong["challenge"] == "basic", wrong
    else:
        assert wrong["oauth_error"] == "invalid_client", wrong
    out = deployment.node("refresh", refresh_token=tokens["refresh_token"], client_id=RS_ID,
                          client_auth=method, client_secret=RS_SECRET)
    assert out["ok"], out


@pytest.mark.parametrize("alg", ["ES256", "Ed25519"])
def test_refresh_grant_with_dpop_rfc9449_section_5(deployment: Deployment, alg: str) -> None:
    """RFC 9449 §5 (token request with a proof), §7.1 (protected resource),
    §8/§9 (the server's nonce, retried once), RFC 9864 (``Ed25519``): the
    session bound at login, refreshed and used with oauth4webapi's DPoP."""
    out = deployment.node("refresh", dpop=alg, username="bob", password=PASSWORD, client_auth="none")
    assert out["ok"], out
    assert out["token_type"].lower() == "dpop" and out["me_status"] == 200
    # The refreshed access token really is bound: as a bearer it is refused.
    r = httpx.get(deployment.url + "/auth/me", headers={"authorization": f"Bearer {out['access_token']}"}, timeout=BOUND)
    assert r.status_code == 401


def test_revocation_rfc7009_section_2(deployment: Deployment) -> None:
    """RFC 7009 §2.1-§2.2: revoking the refresh token ends its session."""
    tokens = deployment.login()
    out = deployment.node("revoke", token=tokens["refresh_token"], client_auth="none")
    assert out["ok"], out
    r = httpx.post(deployment.url + "/auth/refresh", json={"refresh_token": tokens["refresh_token"]}, timeout=BOUND)
    assert r.status_code == 401 and r.json()["code"] == "session_revoked"


def test_introspection_rfc7662_section_2(deployment: Deployment) -> None:
    """RFC 7662 §2.1-§2.2: a KEYTURN_RESOURCE_CLIENTS client introspects;
    ``token_type`` is the RFC 6749 §7.1 type."""
    tokens = deployment.login()
    out = deployment.node("introspect", token=tokens["access_token"], client_id=RS_ID, client_secret=RS_SECRET)
    assert out["ok"], out
    assert out["result"]["active"] is True and out["result"]["token_type"] == "Bearer"
    assert out["result"]["sid"] == tokens["session_id"]


def test_validate_jwt_access_token_bearer_rfc9068_section_4(deployment: Deployment) -> None:
    """RFC 9068 §2.2 and §4: oauth4webapi's resource-server validation of a
    Bearer token (needs the ``client_id`` claim)."""
    tokens = deployment.login()
    out = deployment.node("validate_bearer", access_token=tokens["access_token"], audience="keyturn")
    assert out["ok"], out
    assert out["client_id"]


def test_validate_jwt_access_token_dpop_rfc9068_section_4_rfc9449_section_7_1(deployment: Deployment) -> None:
    """RFC 9068 §4 with RFC 9449 §7.1: a DPoP-bound token and its proof,
    validated by oauth4webapi (needs the ``client_id`` claim)."""
    out = deployment.node("refresh", dpop="ES256", username="bob", password=PASSWORD, client_auth="none",
                          validate=True, audience="keyturn")
    assert out["ok"], out
    assert "validate_error" not in out, out["validate_error"]
    assert out["validated"]["cnf"]["jkt"]


def test_jose_remote_jwks_across_a_key_rotation_rfc7517_section_5(deployment: Deployment) -> None:
    """RFC 7517 §5 / RFC 7515 §4.1.4: jose's createRemoteJWKSet + jwtVerify
    keep verifying across ``keyturn keys rotate``: the new ``kid`` is fetched
    on first sight, the old key's tokens still verify while it is published."""
    first = deployment.login()
    args = json.dumps({"cmd": "jose_rotation", "jwks_uri": deployment.url + "/.well-known/jwks.json",
                       "issuer": deployment.url, "audience": "keyturn", "token": first["access_token"]})
    proc = subprocess.Popen(["node", str(HERE / "client.mjs"), args], cwd=HERE, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        ready = json.loads(proc.stdout.readline())
        assert ready.get("ready"), ready
        deployment.keys("rotate")
        old_kid = header(first["access_token"])["kid"]
        deadline = time.monotonic() + BOUND  # the replica reloads its keys every second
        second = deployment.login()
        while header(second["access_token"])["kid"] == old_kid and time.monotonic() < deadline:
            time.sleep(0.2)
            second = deployment.login()
        assert header(second["access_token"])["kid"] != old_kid
        out, err = proc.communicate(second["access_token"] + "\n", timeout=BOUND)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    result = json.loads(out.strip().splitlines()[-1])
    assert result["ok"], (result, err)
    assert result["before"]["kid"] == old_kid != result["after"]["kid"]
    assert result["old"]["kid"] == old_kid
