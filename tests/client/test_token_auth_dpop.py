"""TokenAuth with DPoP (RFC 9449): a key kept with the tokens, proofs on
login, refresh and every call, server nonces from keyturn and from a
resource server, and a Verifier-protected app that accepts it all."""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from keyturn.client import FileStorage, TokenAuth, Tokens
from keyturn.client.dpop import ClientKey
from keyturn.core.dpop import jwk_thumbprint
from keyturn.resource.adapters.starlette import keyturn_middleware
from keyturn.resource.verifier import Verifier
from tests.client.conftest import ManualTime, Service
from tests.conftest import PASSWORD


def payload(jws: str) -> dict[str, Any]:
    part = jws.split(".")[1]
    out: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return out


def synced(svc: Service) -> ManualTime:
    """The client's clock reading what the server's does (proof iat)."""
    return ManualTime(wall=svc.clock.now())


def dpop_auth(svc: Service, time_: ManualTime, seen: list[Tokens] | None = None, **kw: Any) -> TokenAuth:
    if "storage" not in kw:
        kw.update(username="alice", password=PASSWORD)
    return TokenAuth(svc.base_url, clock=time_, async_transport=svc.transport, leeway=10, dpop=True,
                     on_refresh=(seen if seen is not None else []).append, **kw)


class Recorder(httpx.AsyncBaseTransport):
    """Every request the service saw, with its answer's status."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.seen: list[tuple[str, str, dict[str, str], int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        self.seen.append((request.method, request.url.path, dict(request.headers), response.status_code))
        return response


@pytest.mark.parametrize("alg", ["ES256", "Ed25519"])
async def test_login_refresh_and_calls_carry_proofs_from_one_key(
    make_service: Callable[..., Any], alg: str,
) -> None:
    """RFC 9449 §4-§5, §7.1: the session is bound to the key at login, each
    refresh proves it, every call is ``DPoP`` with ``ath``."""
    async with make_service(access_token_ttl=60, reuse_interval=0) as svc:
        await svc.add_user()
        time_ = synced(svc)
        recorder = Recorder(svc.transport)
        seen: list[Tokens] = []
        auth = TokenAuth(svc.base_url, username="alice", password=PASSWORD, clock=time_, async_transport=recorder,
                         leeway=10, dpop=True, dpop_alg=alg, on_refresh=seen.append)
        async with httpx.AsyncClient(transport=recorder, base_url=svc.base_url, auth=auth) as http:
            assert (await http.get("/auth/me")).status_code == 200
            time_.advance(60)
            svc.clock.advance(60)
            assert (await http.get("/auth/me")).status_code == 200
        assert len(seen) == 2 and all(t.token_type == "DPoP" for t in seen)
        key = ClientKey.from_json(str(seen[1].dpop_key))
        assert key.alg == alg
        jkt = jwk_thumbprint(key.public_jwk)
        assert payload(seen[1].access_token)["cnf"] == {"jkt": jkt}
        session = await svc.runtime.stores.sessions.get_session(str(seen[1].session_id))
        assert session.dpop_jkt == jkt
        paths = [(m, p) for m, p, _, _ in recorder.seen]
        assert paths == [("POST", "/auth/login"), ("GET", "/auth/me"), ("POST", "/auth/refresh"), ("GET", "/auth/me")]
        for method, path, headers, status in recorder.seen:
            assert status == 200 and "dpop" in headers
            proof = payload(headers["dpop"])
            assert proof["htm"] == method and proof["htu"] == svc.base_url + path
            if path == "/auth/me":
                assert headers["authorization"].startswith("DPoP ") and "ath" in proof


async def test_server_nonces_are_honoured_and_retried_once(make_service: Callable[..., Any]) -> None:
    """RFC 9449 §8 (token endpoint: 400 ``use_dpop_nonce``) and §9 (resource:
    401 with a DPoP challenge), against keyturn with KEYTURN_DPOP_NONCE on."""
    async with make_service(dpop_nonce=True) as svc:
        await svc.add_user()
        time_ = synced(svc)
        recorder = Recorder(svc.transport)
        auth = TokenAuth(svc.base_url, username="alice", password=PASSWORD, clock=time_, async_transport=recorder,
                         dpop=True)
        async with httpx.AsyncClient(transport=recorder, base_url=svc.base_url, auth=auth) as http:
            assert (await http.get("/auth/me")).status_code == 200
            statuses = [(p, s) for _, p, _, s in recorder.seen]
            assert statuses == [("/auth/login", 400), ("/auth/login", 200), ("/auth/me", 200)]
            # The nonce ages out (two 60 s slots): the resource call is retried once.
            time_.advance(150)
            svc.clock.advance(150)
            recorder.seen.clear()
            assert (await http.get("/auth/me")).status_code == 200
            assert [(p, s) for _, p, _, s in recorder.seen] == [("/auth/me", 401), ("/auth/me", 200)]
            assert "nonce" in payload(recorder.seen[1][2]["dpop"])


async def test_a_nonce_demand_is_not_counted_as_a_guess(make_service: Callable[..., Any]) -> None:
    """``use_dpop_nonce`` is a protocol step: many clients behind one address
    retrying with nonces must never be throttled for it."""
    async with make_service(dpop_nonce=True, login_ip_max_failures=2) as svc:
        await svc.add_user()
        for _ in range(4):
            auth = dpop_auth(svc, synced(svc))
            async with svc.client(auth=auth) as http:
                assert (await http.get("/auth/me")).status_code == 200


async def test_the_key_is_stored_with_the_tokens_and_shared(
    make_service: Callable[..., Any], tmp_path: Path,
) -> None:
    """The key has the token file's mode (0600) and lock: a second process
    sharing the file adopts tokens *and* key, and calls without a login."""
    path = tmp_path / "tokens.json"
    async with make_service() as svc:
        await svc.add_user()
        time_ = synced(svc)
        first: list[Tokens] = []
        async with svc.client(auth=dpop_auth(svc, time_, first, storage=FileStorage(path), username="alice",
                                             password=PASSWORD)) as http:
            assert (await http.get("/auth/me")).status_code == 200
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        stored = json.loads(path.read_text())
        assert stored["token_type"] == "DPoP" and "d" in json.loads(stored["dpop_key"])
        assert "dpop_key" not in repr(first[0])  # never printed
        second: list[Tokens] = []
        async with svc.client(auth=dpop_auth(svc, time_, second, storage=FileStorage(path))) as http:
            assert (await http.get("/auth/me")).status_code == 200
        assert second == []  # adopted, no login


def resource_app(verifier: Verifier, nonce: str) -> Starlette:
    """A resource server protected by the Verifier that also demands its
    own DPoP nonce (RFC 9449 §9)."""

    async def data(request: Request) -> Response:
        proof = request.headers.get("dpop", "")
        if payload(proof).get("nonce") != nonce:
            return JSONResponse({"error": "use_dpop_nonce"}, status_code=401, headers={
                "www-authenticate": 'DPoP error="use_dpop_nonce"', "dpop-nonce": nonce})
        return JSONResponse({"sub": request.user.identity})

    return Starlette(routes=[Route("/data", data)], middleware=[keyturn_middleware(verifier, required=True)])


async def test_a_verifier_protected_app_accepts_what_token_auth_sends(make_service: Callable[..., Any]) -> None:
    """RFC 9449 §7.1 at a resource server with the Verifier, and §9: the
    resource server's own nonce is honoured, with one retry."""
    async with make_service() as svc:
        await svc.add_user()
        time_ = synced(svc)
        verifier = Verifier(None, issuer=svc.runtime.settings.issuer, audience=svc.runtime.settings.audience,
                            clock=svc.clock, revocations=False)
        verifier.load_jwks(orjson.loads(svc.runtime.keys.jwks_json))
        rs = Recorder(httpx.ASGITransport(app=resource_app(verifier, "rs-nonce-1")))
        auth = dpop_auth(svc, time_)
        async with httpx.AsyncClient(transport=rs, base_url="http://rs.test", auth=auth) as http:
            r = await http.get("/data")
            assert r.status_code == 200, r.text
            assert [s for *_, s in rs.seen] == [401, 200]
            rs.seen.clear()
            assert (await http.get("/data")).status_code == 200  # the nonce is remembered
            assert [s for *_, s in rs.seen] == [200]


@pytest.mark.slow
def test_sync_client_against_a_real_server_with_nonces(tmp_path: Path) -> None:
    """The sync flow (``httpx.Client``) against ``keyturn serve`` with
    KEYTURN_DPOP_NONCE on: RFC 9449 §8 at login, then bound calls."""
    from keyturn.service.masterkey import new_master_key
    from tests.conftest import start_server, stop_server

    server = start_server(tmp_path, {"KEYTURN_MASTER_KEY": new_master_key(), "KEYTURN_DPOP_NONCE": "true"})
    try:
        httpx.post(server.url + "/auth/register", json={"username": "alice", "password": PASSWORD}).raise_for_status()
        seen: list[Tokens] = []
        auth = TokenAuth(server.url, username="alice", password=PASSWORD, dpop=True, dpop_alg="Ed25519",
                         on_refresh=seen.append)
        with httpx.Client(base_url=server.url, auth=auth) as http:
            for _ in range(3):
                r = http.get("/auth/me")
                assert r.status_code == 200, r.text
        assert len(seen) == 1 and seen[0].token_type == "DPoP"
        # Without the proof the bound token is refused: it really is bound.
        r = httpx.get(server.url + "/auth/me", headers={"authorization": f"Bearer {seen[0].access_token}"})
        assert r.status_code == 401
    finally:
        stop_server(server)


def test_an_unknown_dpop_alg_is_refused() -> None:
    with pytest.raises(ValueError, match="dpop_alg"):
        TokenAuth("http://keyturn.test", username="a", password="b", dpop=True, dpop_alg="HS256")
