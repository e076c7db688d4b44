"""A Verifier without the revocation feed is a choice spelled out, and a
feed that refuses our credentials is reported as a configuration error,
once, not as an outage with a traceback every poll."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import httpx
import orjson
import pytest

from keyturn.core.rendering import render
from keyturn.resource.feed import HttpRevocationSource, RevocationFeedRefused
from keyturn.resource.verifier import Verifier
from tests.conftest import Api


def test_a_verifier_without_feed_credentials_is_refused() -> None:
    with pytest.raises(ValueError, match="revocations=False"):
        Verifier("http://keyturn.test/.well-known/jwks.json", issuer="keyturn", audience="keyturn")
    with pytest.raises(ValueError, match="client_id"):
        Verifier.for_service("http://keyturn.test", issuer="keyturn", audience="keyturn")
    with pytest.raises(ValueError, match="keyturn clients add"):
        Verifier.for_service("http://keyturn.test", issuer="keyturn", audience="keyturn", client_id="kc_x")


def test_opting_out_says_once_what_it_costs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="keyturn.verify"):
        v = Verifier.for_service("http://keyturn.test", issuer="keyturn", audience="keyturn", revocations=False)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "until they expire" in warnings[0]
    assert v._source is None


def feed(status: int, calls: list[int]) -> HttpRevocationSource:
    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(status)
        if status == 0:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(status, json={"error": "invalid_client", "code": "invalid_client"})

    return HttpRevocationSource("http://keyturn.test/auth/revocations", client_id="rs", client_secret="wrong",
                                transport=httpx.MockTransport(handler))


def wait_for(cond: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not cond():
        assert time.monotonic() < deadline
        time.sleep(0.01)


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_credentials_are_a_configuration_error_said_once(
    api: Api, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    tokens = await api.user_and_login()
    calls: list[int] = []
    v = Verifier(None, issuer="keyturn", audience="keyturn", clock=api.clock, revocations=feed(status, calls),
                 poll_interval=0.01, max_feed_staleness=3600)
    v.load_jwks(orjson.loads(api.runtime.keys.jwks_json))
    with caplog.at_level(logging.WARNING, logger="keyturn.verify"):
        with v:
            wait_for(lambda: len(calls) >= 5)
            # No grace period: waiting will not fix a wrong secret.
            with pytest.raises(RevocationFeedRefused) as caught:
                v.verify(tokens["access_token"])
    lines = [r for r in caplog.records if "refused our client credentials" in r.getMessage()]
    assert len(lines) == 1, [r.getMessage() for r in caplog.records]
    assert "check KEYTURN_CLIENT_ID/SECRET" in lines[0].getMessage()
    assert all(r.exc_info is None for r in caplog.records)
    code, body, _ = render(caught.value)
    assert (code, body["error"]) == (500, "server_error")
    assert "misconfigured" in body["error_description"]


async def test_an_unreachable_feed_is_said_once_without_a_traceback(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []
    v = Verifier(None, issuer="keyturn", audience="keyturn", clock=api.clock, revocations=feed(0, calls),
                 poll_interval=0.01)
    with caplog.at_level(logging.WARNING, logger="keyturn.verify"):
        with v:
            wait_for(lambda: len(calls) >= 5)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "unreachable" in lines[0] and "ConnectError" in lines[0], lines
    assert all(r.exc_info is None for r in caplog.records)

