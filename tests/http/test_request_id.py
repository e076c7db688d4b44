"""X-Request-ID: kept when sane, generated otherwise, always echoed."""

from __future__ import annotations

import re

import pytest

from tests.conftest import Api


@pytest.mark.parametrize("given", ["abc-123", "0f8fad5b-d9cb-469f-a165-70867728950e", "a.b:c_d"])
async def test_sane_request_id_is_echoed(api: Api, given: str) -> None:
    r = await api.client.get("/healthz", headers={"x-request-id": given})
    assert r.headers["x-request-id"] == given


@pytest.mark.parametrize(
    "given",
    ["", "has space", "x" * 65, "quote\"inject", "-leading-dash", "line\u00e9", "eyJhbGciOiJFZERTQSJ9.e30.sig/+="],
)
async def test_insane_request_id_is_replaced(api: Api, given: str) -> None:
    r = await api.client.get("/healthz", headers={"x-request-id": given.encode("utf-8")})
    assert r.headers["x-request-id"] != given
    assert re.fullmatch(r"[0-9a-f]{16}", r.headers["x-request-id"])


async def test_request_id_on_errors_and_404(api: Api) -> None:
    r = await api.client.get("/nope")
    assert r.status_code == 404
    assert re.fullmatch(r"[0-9a-f]{16}", r.headers["x-request-id"])
    r = await api.login(password="wrong password here", headers={"x-request-id": "req-1"})
    assert r.status_code == 401
    assert r.headers["x-request-id"] == "req-1"
