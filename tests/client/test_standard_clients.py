"""Standard clients, with no keyturn code on their side: Authlib and
requests-oauthlib refresh through /oauth/token; PyJWT and joserfc verify our
access tokens from the JWKS."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.client.live import Live, live_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    yield from live_server(tmp_path_factory)


def expired(token: dict[str, Any]) -> dict[str, Any]:
    """The login answer, as these libraries keep it, marked as expired."""
    return {**token, "expires_at": int(time.time()) - 1}


def test_authlib_httpx_client_refreshes(live: Live) -> None:
    import warnings

    with warnings.catch_warnings():  # Authlib says it prefers httpx2 at import; httpx works
        warnings.simplefilter("ignore")
        from authlib.integrations.httpx_client import OAuth2Client

    token = live.login()
    updated: list[dict[str, Any]] = []
    with OAuth2Client(token=expired(token), token_endpoint=live.url + "/oauth/token",
                      update_token=lambda t, refresh_token=None, access_token=None: updated.append(t)) as client:
        r = client.get(live.url + "/auth/me")
    assert r.status_code == 200, r.text
    assert len(updated) == 1
    assert updated[0]["refresh_token"] != token["refresh_token"]


def test_requests_oauthlib_refreshes(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    from requests_oauthlib import OAuth2Session

    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # plain http on loopback in the test only
    token = live.login()
    updated: list[dict[str, Any]] = []
    with OAuth2Session(token=expired(token), auto_refresh_url=live.url + "/oauth/token",
                       token_updater=updated.append) as session:
        r = session.get(live.url + "/auth/me")
    assert r.status_code == 200, r.text
    assert len(updated) == 1
    assert updated[0]["refresh_token"] != token["refresh_token"]


def test_pyjwt_verifies_from_the_jwks(live: Live) -> None:
    import jwt

    token = str(live.login()["access_token"])
    key = jwt.PyJWKClient(live.url + "/.well-known/jwks.json").get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key.key, algorithms=["EdDSA"], audience="keyturn", issuer="keyturn",
                        options={"require": ["exp", "iat", "sub", "jti"]})
    assert claims["sid"]
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"


# joserfc flags "EdDSA" as deprecated by RFC 9864 (which names it "Ed25519");
# it still verifies, and that is what this test shows.
@pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
def test_joserfc_verifies_from_the_jwks(live: Live) -> None:
    import httpx
    from joserfc import jwt
    from joserfc.jwk import KeySet

    token = str(live.login()["access_token"])
    keys = KeySet.import_key_set(httpx.get(live.url + "/.well-known/jwks.json").json())
    decoded = jwt.decode(token, keys, algorithms=["EdDSA"])
    jwt.JWTClaimsRegistry(iss={"essential": True, "value": "keyturn"}, aud={"essential": True, "value": "keyturn"},
                          exp={"essential": True}).validate(decoded.claims)
    assert decoded.header["typ"] == "at+jwt"
