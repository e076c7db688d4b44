"""Where keyturn used to deviate from the OAuth RFCs, each case held to the
section it breaks: challenges, introspection's token_type, client
authentication at the token and revocation endpoints."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest

from keyturn.errors import KeyturnError
from keyturn.resource.adapters._common import challenge
from keyturn.resource.verifier import Verifier
from keyturn.service.resource_clients import new_client
from tests.conftest import Api
from tests.dpop_client import DpopKey

BASE = "http://keyturn.test"
RS_ID, RS_SECRET = "rs-conf", "rs-conf-secret-0123456789"


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


@pytest.fixture
async def rs_api(make_api: Callable[..., Any]) -> AsyncIterator[Api]:
    async with make_api(resource_clients=f"{RS_ID}:{RS_SECRET}") as api:
        yield api


async def token_grant(api: Api, refresh_token: str, headers: dict[str, str] | None = None, **form: str) -> Any:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **form}
    return await api.client.post("/oauth/token", data=data, headers=headers or {})


# --- RFC 6749 §5.2 / RFC 9449 §5: the token endpoint answers errors in the body only


async def test_token_endpoint_400_has_no_challenge(api: Api) -> None:
    """RFC 6749 §5.2: a 400 from the token endpoint is a JSON error, with no
    WWW-Authenticate (a strict client reads a challenge without ``error``)."""
    r = await token_grant(api, "krt_nonsense_guess")
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert "www-authenticate" not in r.headers


async def test_token_endpoint_400_on_a_bad_dpop_proof_has_no_challenge(api: Api) -> None:
    """RFC 9449 §5: an invalid proof at the token endpoint is 400
    ``invalid_dpop_proof`` in the body, not a DPoP challenge."""
    key = DpopKey()
    await api.register()
    r = await api.login(headers={"dpop": key.proof("POST", f"{BASE}/auth/login", iat=api.clock.now())})
    bound = r.json()
    bad = key.proof("POST", f"{BASE}/somewhere-else", iat=api.clock.now())
    r = await token_grant(api, bound["refresh_token"], headers={"dpop": bad})
    assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof"
    assert "www-authenticate" not in r.headers


# --- RFC 6750 §3.1: no token at all -> a challenge without an error code


@pytest.mark.parametrize("authorization", [None, "Basic Zm9vOmJhcg=="])
async def test_a_request_without_a_token_gets_a_challenge_without_error(api: Api, authorization: str | None) -> None:
    """RFC 6750 §3.1: a request with no authentication information (or an
    unsupported scheme) SHOULD NOT get an error code in the challenge."""
    headers = {"authorization": authorization} if authorization else {}
    r = await api.client.get("/auth/me", headers=headers)
    assert r.status_code == 401
    value = r.headers["www-authenticate"]
    assert value.startswith("Bearer") and "error=" not in value


async def test_a_bad_token_still_gets_invalid_token(api: Api) -> None:
    """RFC 6750 §3.1: a token that is presented and invalid is ``invalid_token``."""
    r = await api.get("/auth/me", "not-a-jwt")
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]


# --- RFC 7662 §2.2: token_type is an RFC 6749 §7.1 type


async def test_introspection_token_type_of_a_bearer_access_token(rs_api: Api) -> None:
    """RFC 7662 §2.2: ``token_type`` is the access token's type (RFC 6749 §7.1)."""
    tokens = await rs_api.user_and_login()
    r = await rs_api.client.post("/oauth/introspect", data={"token": tokens["access_token"]}, headers=basic(RS_ID, RS_SECRET))
    assert r.status_code == 200, r.text
    assert r.json()["active"] is True and r.json()["token_type"] == "Bearer"


async def test_introspection_of_a_refresh_token_names_no_access_token_type(rs_api: Api) -> None:
    """RFC 7662 §2.2: a refresh token has no RFC 6749 §7.1 type, so it gets
    no ``token_type``; ``token_use`` says what it is."""
    tokens = await rs_api.user_and_login()
    r = await rs_api.client.post("/oauth/introspect", data={"token": tokens["refresh_token"]}, headers=basic(RS_ID, RS_SECRET))
    body = r.json()
    assert body["active"] is True and "token_type" not in body and body["token_use"] == "refresh_token"


async def test_settings_resource_clients_can_introspect(rs_api: Api) -> None:
    """RFC 7662 §2.1: the clients that read the revocation feed
    (``KEYTURN_RESOURCE_CLIENTS``) are resource servers, and may introspect."""
    tokens = await rs_api.user_and_login()
    r = await rs_api.client.post("/oauth/introspect", data={"token": tokens["access_token"]}, headers=basic(RS_ID, RS_SECRET))
    assert r.status_code == 200, r.text
    r = await rs_api.client.post("/oauth/introspect", data={"token": tokens["access_token"]}, headers=basic(RS_ID, "wrong"))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


# --- RFC 6749 §5.2 / §2.3.1: presented client credentials are checked


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke"])
@pytest.mark.parametrize("how", ["basic_wrong_secret", "basic_unknown_client", "post_wrong_secret", "post_unknown_client"])
async def test_wrong_client_credentials_are_invalid_client(rs_api: Api, path: str, how: str) -> None:
    """RFC 6749 §5.2: client authentication failed -> 401 ``invalid_client``
    (with a ``WWW-Authenticate`` challenge when the header was used), never
    silently ignored; and nothing happens to the token."""
    tokens = await rs_api.user_and_login()
    cid = RS_ID if "wrong_secret" in how else "nobody"
    headers, extra = ({}, {"client_id": cid, "client_secret": "wrong-secret"}) if how.startswith("post") \
        else (basic(cid, "wrong-secret"), {})
    if path == "/oauth/token":
        r = await token_grant(rs_api, tokens["refresh_token"], headers=headers, **extra)
    else:
        r = await rs_api.client.post(path, data={"token": tokens["refresh_token"], **extra}, headers=headers)
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "invalid_client"
    if how.startswith("basic"):
        assert r.headers["www-authenticate"].startswith("Basic")
    else:  # RFC 6749 §5.2: the challenge is for the Authorization-header method
        assert "www-authenticate" not in r.headers
    # The refresh token was neither rotated nor revoked.
    assert (await rs_api.refresh(tokens["refresh_token"])).status_code == 200


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke"])
@pytest.mark.parametrize("how", ["basic", "post"])
async def test_correct_client_credentials_work(rs_api: Api, path: str, how: str) -> None:
    """RFC 6749 §2.3.1: both client_secret_basic and client_secret_post."""
    tokens = await rs_api.user_and_login()
    headers, extra = (basic(RS_ID, RS_SECRET), {}) if how == "basic" else ({}, {"client_id": RS_ID, "client_secret": RS_SECRET})
    if path == "/oauth/token":
        r = await token_grant(rs_api, tokens["refresh_token"], headers=headers, **extra)
    else:
        r = await rs_api.client.post(path, data={"token": tokens["refresh_token"], **extra}, headers=headers)
    assert r.status_code == 200, r.text


async def test_a_registered_client_authenticates_at_the_token_endpoint(api: Api) -> None:
    """RFC 6749 §2.3.1 with a client from ``keyturn clients add``."""
    client, secret = new_client("app", api.clock.now())
    await api.runtime.stores.clients.add_client(client)
    tokens = await api.user_and_login()
    assert (await token_grant(api, tokens["refresh_token"], headers=basic(client.id, secret))).status_code == 200
    r = await token_grant(api, tokens["refresh_token"], headers=basic(client.id, secret + "x"))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


async def test_two_authentication_methods_at_once_are_refused(rs_api: Api) -> None:
    """RFC 6749 §2.3: a client MUST NOT use more than one method per request."""
    tokens = await rs_api.user_and_login()
    r = await token_grant(rs_api, tokens["refresh_token"], headers=basic(RS_ID, RS_SECRET),
                          client_id=RS_ID, client_secret=RS_SECRET)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


async def test_a_confidential_client_id_without_its_secret_is_invalid_client(rs_api: Api) -> None:
    """RFC 6749 §3.2.1: a confidential client must authenticate; naming it
    without its secret is not a public client."""
    tokens = await rs_api.user_and_login()
    r = await token_grant(rs_api, tokens["refresh_token"], client_id=RS_ID)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


@pytest.mark.parametrize("extra", [{}, {"client_id": "my-public-app"}])
async def test_public_clients_keep_working(api: Api, extra: dict[str, str]) -> None:
    """RFC 6749 §2.1: a public client sends no credentials (at most its id)."""
    tokens = await api.user_and_login()
    r = await token_grant(api, tokens["refresh_token"], **extra)
    assert r.status_code == 200, r.text
    assert (await api.client.post("/oauth/revoke", data={"token": r.json()["refresh_token"], **extra})).status_code == 200


# --- RFC 9449 §7.1 / RFC 6750 §3.1: one answer for an unbound token sent as DPoP


async def test_service_and_verifier_answer_an_unbound_dpop_token_alike(api: Api) -> None:
    """An unbound access token under the DPoP scheme: the service and the
    Verifier give the same status, body and challenge."""
    tokens = await api.user_and_login()
    key = DpopKey()
    access = tokens["access_token"]
    proof = key.proof("GET", f"{BASE}/auth/me", iat=api.clock.now(), access_token=access)
    headers = {"authorization": f"DPoP {access}", "dpop": proof}
    r = await api.client.get("/auth/me", headers=headers)
    verifier = Verifier(None, issuer=api.runtime.settings.issuer, audience=api.runtime.settings.audience, clock=api.clock,
                        revocations=False)
    verifier.load_jwks(orjson.loads(api.runtime.keys.jwks_json))
    with pytest.raises(KeyturnError) as caught:
        verifier.verify_request("GET", f"{BASE}/auth/me", headers)
    status, body, challenge_headers = challenge(caught.value)
    assert (r.status_code, r.json()) == (status, body)
    assert r.headers["www-authenticate"] == challenge_headers["www-authenticate"]
    assert r.status_code == 401
