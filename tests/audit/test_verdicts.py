"""Verdicts on answers no real target here gives: a rate limit in the middle
of a check is inconclusive (SKIP), never a PASS or a FAIL; a JWKS with a
private key fails; a cookie without HttpOnly fails."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable

import httpx
import pytest

from keyturn.audit.checks import rotation, tokens, transport
from keyturn.audit.checks.base import CheckFn
from keyturn.audit.context import Context
from keyturn.audit.probe import Probe
from keyturn.audit.profile import KEYTURN
from keyturn.audit.result import Status
from keyturn.audit.target import Target

Handler = Callable[[httpx.Request], httpx.Response]


def token_answer(n: int) -> httpx.Response:
    return httpx.Response(200, json={"access_token": f"access-{n:04d}", "refresh_token": f"krt_s_{n:04d}-secret",
                                     "expires_in": 900, "refresh_token_expires_in": 86400})


def run_check(fn: CheckFn, handler: Handler) -> tuple[Status, str]:
    async def go() -> tuple[Status, str]:
        probe = Probe("http://127.0.0.1:9", max_requests=100, seconds=60, transport=httpx.MockTransport(handler))
        try:
            outcome = await fn(Context(Target(KEYTURN, probe, "auditor", "pw")))
        finally:
            await probe.close()
        return outcome.status, outcome.evidence

    return asyncio.run(go())


def api(refresh: Callable[[int], httpx.Response], **routes: httpx.Response) -> Handler:
    """Login and logout succeed; the n-th refresh answers ``refresh(n)``."""
    counter = itertools.count(1)
    logins = itertools.count(1)

    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path in routes:
            return routes[path]
        if path == "/auth/login":
            return token_answer(next(logins))
        if path == "/auth/refresh":
            return refresh(next(counter))
        return httpx.Response(204)

    return handle


@pytest.mark.parametrize("fn, limited_at", [
    (rotation.reuse_revokes, 3),  # the old token's answer
    (rotation.reuse_revokes, 4),  # the live token's answer
    (rotation.guess_harmless, 1),
    (rotation.used_token_dead, 2),
])
def test_a_429_mid_check_is_inconclusive(fn: CheckFn, limited_at: int) -> None:
    def refresh(n: int) -> httpx.Response:
        if n == limited_at:
            return httpx.Response(429, headers={"retry-after": "30"}, json={"code": "rate_limited"})
        return token_answer(100 + n) if n <= 2 or fn is not rotation.reuse_revokes else httpx.Response(401)

    status, evidence = run_check(fn, api(refresh))
    assert status is Status.SKIP, evidence
    assert "429" in evidence


def test_reuse_not_detected_fails_without_a_rate_limit() -> None:
    status, evidence = run_check(rotation.reuse_revokes, api(
        lambda n: token_answer(100 + n) if n != 3 else httpx.Response(401, json={"code": "mismatch"})))
    assert status is Status.FAIL
    assert "reuse not detected" in evidence


def test_a_jwks_with_a_private_member_fails() -> None:
    jwks = {"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k1", "x": "AAAA", "d": "BBBB"}]}
    status, evidence = run_check(tokens.jwks_public_only, api(token_answer, **{
        "/.well-known/jwks.json": httpx.Response(200, content=json.dumps(jwks).encode())}))
    assert status is Status.FAIL
    assert "k1: d" in evidence


@pytest.mark.parametrize("cookie, verdict", [
    ("keyturn_refresh=abc; Path=/auth; HttpOnly; SameSite=Strict", Status.PASS),
    ("keyturn_refresh=abc; Path=/auth; SameSite=Strict", Status.FAIL),
    ("keyturn_refresh=abc; Path=/auth; HttpOnly; SameSite=None", Status.FAIL),
    ("keyturn_refresh=abc; Path=/auth; HttpOnly", Status.FAIL),
])
def test_refresh_cookie_flags(cookie: str, verdict: Status) -> None:
    def login_with_cookie(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/auth/login":
            return httpx.Response(200, json={"access_token": "access-0001"}, headers={"set-cookie": cookie})
        return httpx.Response(204)

    status, evidence = run_check(transport.cookie_flags, login_with_cookie)
    assert status is verdict, evidence
