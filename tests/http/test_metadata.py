"""RFC 8414 authorization server metadata, the issuer URL, and a Verifier
built from the issuer alone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from keyturn.config import Settings, issuer_warnings
from keyturn.resource.discovery import DiscoveryError, fetch_metadata, metadata_url
from keyturn.resource.verifier import Verifier
from keyturn.service.masterkey import new_master_key
from tests.conftest import PASSWORD, free_port, start_server, stop_server

PATH = "/.well-known/oauth-authorization-server"


async def test_metadata_names_every_endpoint_and_the_tokens_issuer(make_api: Callable[..., Any]) -> None:
    """RFC 8414 §2 and §3.3: issuer equals the tokens' ``iss``; every endpoint
    keyturn has; the REQUIRED members present."""
    async with make_api(public_url="https://id.example.com") as api:
        r = await api.client.get(PATH)
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
        meta = r.json()
        tokens = await api.user_and_login()
        iss = jwt.decode(tokens["access_token"], options={"verify_signature": False})["iss"]
        assert meta["issuer"] == iss == "https://id.example.com"
        assert meta["token_endpoint"] == "https://id.example.com/oauth/token"
        assert meta["jwks_uri"] == "https://id.example.com/.well-known/jwks.json"
        assert meta["revocation_endpoint"] == "https://id.example.com/oauth/revoke"
        assert meta["introspection_endpoint"] == "https://id.example.com/oauth/introspect"
        assert meta["response_types_supported"] == []
        assert meta["grant_types_supported"] == ["refresh_token"]
        assert set(meta["token_endpoint_auth_methods_supported"]) == {"client_secret_basic", "client_secret_post", "none"}
        assert meta["introspection_endpoint_auth_methods_supported"] == ["client_secret_basic"]
        assert "Ed25519" in meta["dpop_signing_alg_values_supported"]  # RFC 9449 §5.1, RFC 9864


async def test_without_a_public_url_the_endpoints_are_the_requests_origin(make_api: Callable[..., Any]) -> None:
    async with make_api(issuer="https://issuer.example") as api:
        meta = (await api.client.get(PATH)).json()
        assert meta["issuer"] == "https://issuer.example"
        assert meta["token_endpoint"] == "http://keyturn.test/oauth/token"


async def test_dpop_algs_in_the_metadata_follow_the_setting(make_api: Callable[..., Any]) -> None:
    async with make_api(dpop_algs=["Ed25519", "ES256"]) as api:
        assert (await api.client.get(PATH)).json()["dpop_signing_alg_values_supported"] == ["Ed25519", "ES256"]


def test_the_issuer_follows_the_public_url_unless_set(make_settings: Callable[..., Settings]) -> None:
    """RFC 8414 §2 / RFC 9068 §2.2: the issuer is a URL."""
    assert make_settings(public_url="https://id.example.com/").issuer == "https://id.example.com"
    assert make_settings(public_url="https://id.example.com", issuer="https://other.example").issuer == "https://other.example"
    assert make_settings().issuer == "keyturn"  # unchanged where nothing says otherwise


def test_an_issuer_that_is_not_a_url_is_warned_about(make_settings: Callable[..., Settings]) -> None:
    assert issuer_warnings(make_settings()) and "not a URL" in issuer_warnings(make_settings())[0]
    assert issuer_warnings(make_settings(public_url="https://id.example.com")) == []


def test_metadata_url_inserts_the_well_known_path() -> None:
    """RFC 8414 §3.1."""
    assert metadata_url("https://a.example") == "https://a.example" + PATH
    assert metadata_url("https://a.example/tenant1") == "https://a.example" + PATH + "/tenant1"
    with pytest.raises(DiscoveryError):
        metadata_url("keyturn")


def test_discovery_refuses_metadata_naming_another_issuer() -> None:
    """RFC 8414 §3.3: the issuer in the document must be the one asked for."""
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"issuer": "https://evil.example", "jwks_uri": "https://evil.example/jwks"})

    with pytest.raises(DiscoveryError, match="evil"):
        fetch_metadata("https://a.example", transport=httpx.MockTransport(handler))


@pytest.mark.slow
def test_a_verifier_from_the_issuer_url_alone(tmp_path: Path) -> None:
    """RFC 8414 §3 against a real ``keyturn serve``: discover, fetch the
    JWKS, verify a token; the serve log warned about nothing issuer-related."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(tmp_path, {"KEYTURN_MASTER_KEY": new_master_key(), "KEYTURN_PUBLIC_URL": url}, port=port)
    try:
        httpx.post(url + "/auth/register", json={"username": "alice", "password": PASSWORD}).raise_for_status()
        token = httpx.post(url + "/auth/login", json={"username": "alice", "password": PASSWORD}).json()["access_token"]
        verifier = Verifier.discover(url, audience="keyturn", revocations=False)
        assert verifier.jwks_url == url + "/.well-known/jwks.json"
        assert verifier.verify(token).iss == url
        assert "KEYTURN_ISSUER" not in server.log()
    finally:
        stop_server(server)


@pytest.mark.slow
def test_serve_warns_when_the_issuer_is_not_a_url(tmp_path: Path) -> None:
    server = start_server(tmp_path, {"KEYTURN_MASTER_KEY": new_master_key()})
    try:
        assert "KEYTURN_ISSUER ('keyturn') is not a URL" in server.log()
    finally:
        stop_server(server)


@pytest.mark.parametrize("with_feed", [True, False])
def test_discovery_with_feed_credentials_never_drops_the_feed_silently(with_feed: bool) -> None:
    """Credentials for the revocation feed and metadata that names none is an
    error, not a Verifier that skips revocations."""
    meta = {"issuer": "https://a.example", "jwks_uri": "https://a.example/jwks"}
    if with_feed:
        meta["keyturn_revocation_feed_endpoint"] = "https://a.example/auth/revocations"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=meta if request.url.path.startswith("/.well-known/oauth") else {"keys": []})

    transport = httpx.MockTransport(handler)
    if not with_feed:
        with pytest.raises(DiscoveryError, match="revocation feed"):
            Verifier.discover("https://a.example", audience="keyturn", client_id="rs", client_secret="s", transport=transport)
        return
    verifier = Verifier.discover("https://a.example", audience="keyturn", client_id="rs", client_secret="s", transport=transport)
    assert verifier._source is not None and verifier.jwks_url == "https://a.example/jwks"


def test_discovery_with_credentials_takes_the_same_keywords_as_every_verifier() -> None:
    """``revocations=`` beside credentials is a keyword the caller may pass
    to any Verifier factory: the feed from the metadata wins, no TypeError."""
    meta = {"issuer": "https://a.example", "jwks_uri": "https://a.example/jwks",
            "keyturn_revocation_feed_endpoint": "https://a.example/auth/revocations"}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=meta if request.url.path.startswith("/.well-known/oauth") else {"keys": []})

    verifier = Verifier.discover("https://a.example", audience="keyturn", client_id="rs", client_secret="s",
                                 revocations=None, transport=httpx.MockTransport(handler))
    assert verifier._source is not None
