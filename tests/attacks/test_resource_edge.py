"""Attacks at the edge: a resource server fed a DPoP-bound token as a plain
bearer (also once it has verified that token before and remembers it), an
access token revoked through RFC 7009 that a resource server
keeps accepting, a client's own X-Forwarded-For line, a TLS-terminating
proxy, and unauthenticated input built to crash the parser. Every test runs
on the engine ``KEYTURN_ATTACK_SETTINGS`` names."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from keyturn.errors import InvalidDpopProof, KeyturnError, TokenRevoked
from keyturn.resource.feed import RevocationBatch, batch_from_body
from keyturn.resource.verifier import Verifier
from keyturn.service.resource_clients import new_client
from tests.attacks.conftest import assert_refused
from tests.conftest import Api
from tests.dpop_client import DpopKey
from tests.resource.test_adapters import FRAMEWORKS

BASE = "http://keyturn.test"
RS = "http://testserver/data"
# Where each framework's test client says the request went.
RS_URL = {"fastapi": RS, "starlette": RS, "django": RS, "flask": "http://localhost/data"}


async def verifier_for(api: Api, **kw: Any) -> Verifier:
    verifier = Verifier(None, issuer="keyturn", audience="keyturn", clock=api.clock, **{"revocations": False, **kw})
    verifier.load_jwks((await api.client.get("/.well-known/jwks.json")).json())
    return verifier


async def bound_login(api: Api, key: DpopKey) -> dict[str, Any]:
    await api.register()
    r = await api.login(headers={"dpop": key.proof("POST", f"{BASE}/auth/login", iat=api.clock.now())})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["token_type"] == "DPoP"
    return body


# --- DPoP binding at resource servers (RFC 9449 §7.1) ------------------------


async def test_verifier_refuses_a_bound_token_presented_as_bearer(target: Api) -> None:
    key = DpopKey()
    access = (await bound_login(target, key))["access_token"]
    verifier = await verifier_for(target)
    with pytest.raises(InvalidDpopProof):
        verifier.verify_request("GET", RS, {"Authorization": f"Bearer {access}"})
    with pytest.raises(InvalidDpopProof):  # the DPoP scheme without a proof
        verifier.verify_request("GET", RS, {"Authorization": f"DPoP {access}"})
    good = key.proof("GET", RS, iat=target.clock.now(), access_token=access)
    claims = verifier.verify_request("GET", RS, {"Authorization": f"DPoP {access}", "DPoP": good})
    assert claims.cnf_jkt == key.jkt
    with pytest.raises(InvalidDpopProof):  # the same proof again: a replay
        verifier.verify_request("GET", RS, {"Authorization": f"DPoP {access}", "DPoP": good})


@pytest.mark.parametrize("flaw", ["other_key", "other_method", "other_url", "no_ath", "stale", "nan_iat"])
async def test_verifier_refuses_a_proof_that_does_not_prove_possession(target: Api, flaw: str) -> None:
    key = DpopKey()
    access = (await bound_login(target, key))["access_token"]
    verifier = await verifier_for(target)
    now = target.clock.now()
    proof = {
        "other_key": lambda: DpopKey().proof("GET", RS, iat=now, access_token=access),
        "other_method": lambda: key.proof("POST", RS, iat=now, access_token=access),
        "other_url": lambda: key.proof("GET", "http://elsewhere.test/data", iat=now, access_token=access),
        "no_ath": lambda: key.proof("GET", RS, iat=now),
        "stale": lambda: key.proof("GET", RS, iat=now - 3600, access_token=access),
        "nan_iat": lambda: _with_claims(key, key.proof("GET", RS, iat=now, access_token=access), iat=float("nan")),
    }[flaw]()
    with pytest.raises(InvalidDpopProof):
        verifier.verify_request("GET", RS, {"Authorization": f"DPoP {access}", "DPoP": proof})


@pytest.mark.parametrize("flaw", ["bearer", "bearer_verify", "no_proof", "replay", "other_key", "other_url"])
async def test_a_remembered_bound_token_still_needs_a_fresh_proof(target: Api, flaw: str) -> None:
    """Verified once with a good proof, the token is remembered; the proof
    is still checked on every request."""
    key = DpopKey()
    access = (await bound_login(target, key))["access_token"]
    verifier = await verifier_for(target)
    now = target.clock.now()
    good = key.proof("GET", RS, iat=now, access_token=access)
    verifier.verify_request("GET", RS, {"Authorization": f"DPoP {access}", "DPoP": good})
    present: dict[str, Callable[[], object]] = {
        "bearer": lambda: verifier.verify_request("GET", RS, {"Authorization": f"Bearer {access}"}),
        "bearer_verify": lambda: verifier.verify(access),
        "no_proof": lambda: verifier.verify_request("GET", RS, {"Authorization": f"DPoP {access}"}),
        "replay": lambda: verifier.verify_request("GET", RS, {"Authorization": f"DPoP {access}", "DPoP": good}),
        "other_key": lambda: verifier.verify_request("GET", RS, {
            "Authorization": f"DPoP {access}", "DPoP": DpopKey().proof("GET", RS, iat=now, access_token=access)}),
        "other_url": lambda: verifier.verify_request("GET", RS, {
            "Authorization": f"DPoP {access}",
            "DPoP": key.proof("GET", "http://elsewhere.test/data", iat=now, access_token=access)}),
    }
    with pytest.raises(InvalidDpopProof):
        present[flaw]()
    assert verifier.verified.hits == 1  # refused on a hit: the proof check runs there too
    fresh = key.proof("GET", RS, iat=now, access_token=access)
    assert verifier.verify_request("GET", RS, {"Authorization": f"DPoP {access}", "DPoP": fresh}).cnf_jkt == key.jkt


def _with_claims(key: DpopKey, proof: str, **claims: Any) -> str:
    import jwt

    head = json.loads(base64.urlsafe_b64decode(proof.split(".")[0] + "=="))
    body = {**json.loads(base64.urlsafe_b64decode(proof.split(".")[1] + "==")), **claims}
    return jwt.encode(body, key.private, algorithm=key.alg, headers=head)


@pytest.mark.parametrize("framework", sorted(FRAMEWORKS))
async def test_every_adapter_enforces_the_binding(target: Api, framework: str) -> None:
    key = DpopKey()
    access = (await bound_login(target, key))["access_token"]
    call = FRAMEWORKS[framework](await verifier_for(target))
    status, body, headers = call({"authorization": f"Bearer {access}"})
    assert (status, body["code"]) == (401, "invalid_dpop_proof")
    assert headers["www-authenticate"].startswith('DPoP realm="keyturn", error="invalid_dpop_proof"')
    proof = key.proof("GET", RS_URL[framework], iat=target.clock.now(), access_token=access)
    status, body, _ = call({"authorization": f"DPoP {access}", "dpop": proof})
    # Proven: past the binding (the test apps want scope "read", which the
    # service's tokens do not carry, so the answer is that scope's 403;
    # Starlette's own @requires answers it without a body).
    assert status == 200 or (status == 403 and body.get("code", "insufficient_scope") == "insufficient_scope"), body


# --- RFC 7009 revocation of one access token reaches resource servers ------


class ApiFeed:
    """The service's feed read over its HTTP endpoint, one poll at a time."""

    def __init__(self) -> None:
        self.batches: list[RevocationBatch] = []

    def poll(self, cursor: str | None, *, wait: float) -> RevocationBatch:
        return self.batches.pop(0) if self.batches else RevocationBatch(cursor)

    def close(self) -> None:
        pass


async def feed_round(api: Api, verifier: Verifier, feed: ApiFeed, cursor: str | None) -> None:
    auth = "Basic " + base64.b64encode(b"rs:rs-secret-rs-secret-rs-secret-0").decode()
    r = await api.client.get("/auth/revocations", params={"since": cursor or ""}, headers={"authorization": auth})
    assert r.status_code == 200, r.text
    feed.batches.append(batch_from_body(r.json(), cursor))
    verifier.poll_revocations()


async def test_revoking_one_access_token_reaches_the_verifier(make_target: Callable[..., Any]) -> None:
    async with make_target(resource_clients="rs:rs-secret-rs-secret-rs-secret-0") as api:
        first = await api.user_and_login("alice")
        other = await api.login("alice")
        access, untouched = first["access_token"], other.json()["access_token"]
        feed = ApiFeed()
        verifier = await verifier_for(api, revocations=feed, max_feed_staleness=None)
        verifier._thread = object()  # type: ignore[assignment]  # no background poller: rounds are explicit
        await feed_round(api, verifier, feed, None)
        assert verifier.verify(access).sub
        r = await api.client.post("/oauth/revoke", data={"token": access})
        assert r.status_code == 200
        await feed_round(api, verifier, feed, verifier._cursor)
        with pytest.raises(TokenRevoked):
            verifier.verify(access)
        assert verifier.verify(untouched).sid == other.json()["session_id"]  # only that token


# --- no 500 from unauthenticated input ------------------------------------------

NESTED = "[" * 5000
DEEP = base64.urlsafe_b64encode(NESTED.encode()).decode().rstrip("=")


def hostile_tokens() -> dict[str, str]:
    body = base64.urlsafe_b64encode(b"[" * 3000 + b"]" * 3000).decode().rstrip("=")
    return {"nested_header": f"{DEEP}.e30.c2ln", "nested_payload": f"eyJhbGciOiJFZERTQSJ9.{body}.c2ln"}


@pytest.mark.parametrize("shape", ["nested_header", "nested_payload"])
@pytest.mark.parametrize("route", ["GET /auth/me", "POST /auth/logout", "POST /oauth/revoke", "POST /oauth/introspect"])
async def test_hostile_tokens_are_401_never_500(make_target: Callable[..., Any], shape: str, route: str) -> None:
    token = hostile_tokens()[shape]
    async with make_target(resource_clients="rs:rs-secret-rs-secret-rs-secret-0") as api:
        method, path = route.split()
        if path.startswith("/oauth"):
            client, secret = new_client("probe", api.clock.now())
            assert api.runtime.stores.clients is not None
            await api.runtime.stores.clients.add_client(client)
            auth = "Basic " + base64.b64encode(f"{client.id}:{secret}".encode()).decode()
            r = await api.client.request(method, path, data={"token": token}, headers={"authorization": auth})
            assert r.status_code == 200, r.text  # RFC 7009 §2.2 / RFC 7662 inactive
            return
        r = await api.client.request(method, path, headers={"authorization": f"Bearer {token}"})
        assert_refused(r, 401, "token_invalid")


@pytest.mark.parametrize("proof", ["nested", "nan_iat"])
async def test_hostile_dpop_proofs_are_401_never_500(target: Api, proof: str) -> None:
    key = DpopKey()
    access = (await bound_login(target, key))["access_token"]
    raw = (
        f"{DEEP}.e30.c2ln" if proof == "nested"
        else _with_claims(key, key.proof("GET", f"{BASE}/auth/me", iat=0, access_token=access), iat=float("nan"))
    )
    r = await target.client.get("/auth/me", headers={"authorization": f"DPoP {access}", "dpop": raw})
    assert_refused(r, 401, "invalid_dpop_proof")


@pytest.mark.parametrize("framework", sorted(FRAMEWORKS))
async def test_adapters_answer_hostile_tokens_with_401(target: Api, framework: str) -> None:
    call = FRAMEWORKS[framework](await verifier_for(target))
    for token in hostile_tokens().values():
        status, body, _ = call({"authorization": f"Bearer {token}"})
        assert (status, body["code"]) == (401, "token_invalid")


def test_verifier_raises_only_keyturn_errors_on_hostile_input() -> None:
    verifier = Verifier(None, issuer="keyturn", audience="keyturn", revocations=False)
    for token in hostile_tokens().values():
        with pytest.raises(KeyturnError):
            verifier.verify_request("GET", RS, {"authorization": f"Bearer {token}"})


# --- X-Forwarded-For: every line, walked from the right ---------------------------


async def test_a_client_written_forwarded_for_line_does_not_win(make_target: Callable[..., Any]) -> None:
    # The proxy (trusted) appends its own line; the first line is the client's lie.
    async with make_target(ip_binding="enforce") as api:
        await api.register()
        real = [("x-forwarded-for", "198.51.100.9")]
        tokens = (await api.login(headers=real)).json()
        lie = [("x-forwarded-for", "198.51.100.9"), ("x-forwarded-for", "192.0.2.66")]
        r = await api.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]}, headers=lie)
        assert_refused(r, 401, "binding_mismatch")
        session = await api.runtime.stores.sessions.get_session(tokens["session_id"])
        assert session is not None and session.login_ip == "198.51.100.9"


async def test_an_unparsable_hop_ends_the_walk(make_target: Callable[..., Any]) -> None:
    async with make_target(trusted_proxies=["203.0.113.7/32", "10.0.0.0/8"]) as api:
        await api.register()
        headers = [("x-forwarded-for", "192.0.2.1, garbage"), ("x-forwarded-for", "10.1.1.1")]
        tokens = (await api.login(headers=headers)).json()
        session = await api.runtime.stores.sessions.get_session(tokens["session_id"])
        assert session is not None and session.login_ip == "10.1.1.1"


# --- behind a TLS-terminating proxy ----------------------------------------------


COOKIE_LOGIN = {"x-keyturn-cookie": "1", "x-forwarded-proto": "https", "x-forwarded-host": "id.example"}


async def test_refresh_cookie_keeps_secure_behind_a_tls_proxy(target: Api) -> None:
    await target.register()
    r = await target.login(headers=COOKIE_LOGIN)
    assert r.status_code == 200, r.text
    assert "secure" in r.headers["set-cookie"].lower()


async def test_forwarded_proto_from_an_untrusted_peer_is_ignored(make_target: Callable[..., Any]) -> None:
    async with make_target(trusted_proxies=[]) as api:
        await api.register()
        r = await api.login(headers=COOKIE_LOGIN)
        assert "secure" not in r.headers["set-cookie"].lower()


async def test_dpop_htu_is_the_public_url(make_target: Callable[..., Any]) -> None:
    async with make_target(public_url="https://id.example") as api:
        await api.register()
        key = DpopKey()
        wrong = await api.login(headers={"dpop": key.proof("POST", f"{BASE}/auth/login", iat=api.clock.now())})
        assert_refused(wrong, 401, "invalid_dpop_proof")  # a proof for another origin, same path
        other = await api.login(headers={"dpop": key.proof("POST", "https://evil.example/auth/login", iat=api.clock.now())})
        assert_refused(other, 401, "invalid_dpop_proof")
        good = await api.login(headers={"dpop": key.proof("POST", "https://id.example/auth/login", iat=api.clock.now())})
        assert good.status_code == 200, good.text
        tokens = good.json()
        r = await api.login(headers={"x-keyturn-cookie": "1"})
        assert "secure" in r.headers["set-cookie"].lower()
        assert tokens["token_type"] == "DPoP"


async def test_dpop_htu_follows_trusted_forwarded_proto_and_host(target: Api) -> None:
    await target.register()
    key = DpopKey()
    fwd = {"x-forwarded-proto": "https", "x-forwarded-host": "id.example"}
    proof = key.proof("POST", "https://id.example/auth/login", iat=target.clock.now())
    r = await target.login(headers={**fwd, "dpop": proof})
    assert r.status_code == 200, r.text


# --- /docs: no third-party script on the cookie's origin ------------------------


async def test_docs_load_only_our_own_assets_under_csp(target: Api) -> None:
    r = await target.client.get("/docs")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    html = r.text
    assert "http://" not in html.replace("http://keyturn.test", "") and "https://" not in html
    assert "<script>" not in html  # no inline script
    import re

    for src in re.findall(r'(?:src|href)="([^"]+)"', html):
        asset = await target.client.get(src)
        assert asset.status_code == 200, src
