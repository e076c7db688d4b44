"""Attacks that need a real server: the concurrent refresh race across two
worker processes, and headers and bodies too big for the HTTP parser. The
schemathesis run over the OpenAPI document lives here too."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import ignored_auth, response_schema_conformance
from typer.testing import CliRunner

from keyturn.cli import app as cli_app
from keyturn.http.app import ROUTES
from keyturn.http.openapi import openapi_document
from keyturn.service.masterkey import new_master_key
from tests.conftest import PASSWORD, Server, lane, start_server, stop_server


@pytest.fixture(scope="module")
@lane("slow")
def real_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp: Path = tmp_path_factory.mktemp("attack-server")
    # /metrics is documented as bearer-protected: that holds once a metrics
    # token is configured (without one it is open, which ignored_auth flags).
    env = {"KEYTURN_MASTER_KEY": new_master_key(), "KEYTURN_METRICS_TOKEN": "metrics-" + new_master_key()}
    srv = start_server(tmp, env, workers=2)
    try:
        yield srv
    finally:
        stop_server(srv)


def introspection_auth(server: Server) -> dict[str, str]:
    out = CliRunner().invoke(cli_app, ["clients", "add", f"probe-{id(server)}"], env=server.env)
    if out.exit_code != 0 and "taken" in out.output:
        raise AssertionError(out.output)
    lines = dict(line.split(": ", 1) for line in out.output.strip().splitlines())
    raw = f"{lines['client_id']}:{lines['client_secret']}".encode()
    return {"authorization": "Basic " + base64.b64encode(raw).decode()}


@pytest.fixture(scope="module")
def probe_auth(real_server: Server) -> dict[str, str]:
    return introspection_auth(real_server)


@pytest.mark.parametrize("round_", range(50))
async def test_twenty_way_race_across_workers(real_server: Server, probe_auth: dict[str, str], round_: int) -> None:
    async with httpx.AsyncClient(base_url=real_server.url, timeout=30) as client:
        name = f"racer{round_}"
        assert (await client.post("/auth/register", json={"username": name, "password": PASSWORD})).status_code == 201
        rt0 = (await client.post("/auth/login", json={"username": name, "password": PASSWORD})).json()["refresh_token"]
        answers = await asyncio.gather(*(client.post("/auth/refresh", json={"refresh_token": rt0}) for _ in range(20)))
        assert [a.status_code for a in answers] == [200] * 20, [a.text for a in answers if a.status_code != 200]
        successors = {a.json()["refresh_token"] for a in answers}
        assert len(successors) == 1
        live = [t for t in [rt0, *successors]
                if (await client.post("/oauth/introspect", data={"token": t}, headers=probe_auth)).json()["active"]]
        assert live == list(successors)


@pytest.mark.parametrize("size", [20_000, 200_000])
def test_oversized_authorization_header_over_http(real_server: Server, size: int) -> None:
    r = httpx.get(real_server.url + "/auth/me", headers={"authorization": "Bearer " + "e" * size}, timeout=10)
    assert 400 <= r.status_code < 500


def test_oversized_body_over_http(real_server: Server) -> None:
    r = httpx.post(real_server.url + "/auth/login", content=b"{" + b" " * 5_000_000 + b"}",
                   headers={"content-type": "application/json"}, timeout=30)
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"


# --- hostile unauthenticated input: 401 with its code, never a traceback ------

_NESTED = base64.urlsafe_b64encode(b"[" * 5000).decode().rstrip("=")
HOSTILE = {
    "nested_header_token": {"authorization": f"Bearer {_NESTED}.e30.c2ln"},
    "nested_dpop_proof": {"authorization": f"DPoP {_NESTED}.e30.c2ln", "dpop": f"{_NESTED}.e30.c2ln"},
    "nan_iat_proof": {
        "authorization": "DPoP eyJhbGciOiJFZERTQSJ9.e30.c2ln",
        "dpop": base64.urlsafe_b64encode(b'{"typ":"dpop+jwt","alg":"ES256"}').decode().rstrip("=") + "."
        + base64.urlsafe_b64encode(b'{"iat":NaN,"htm":"GET","jti":"x"}').decode().rstrip("=") + ".c2ln",
    },
}


@pytest.mark.parametrize("shape", sorted(HOSTILE))
@pytest.mark.parametrize("route", ["GET /auth/me", "POST /auth/logout"])
def test_hostile_credentials_over_http(real_server: Server, route: str, shape: str) -> None:
    method, path = route.split()
    r = httpx.request(method, real_server.url + path, headers=HOSTILE[shape], timeout=10)
    assert r.status_code == 401 and r.json()["code"] == "token_invalid", r.text
    assert "Traceback" not in real_server.log()


@pytest.mark.parametrize("path", ["/oauth/revoke", "/oauth/introspect"])
def test_hostile_tokens_in_oauth_forms_over_http(real_server: Server, probe_auth: dict[str, str], path: str) -> None:
    token = f"{_NESTED}.e30.c2ln"
    r = httpx.post(real_server.url + path, data={"token": token}, headers=probe_auth, timeout=10)
    assert r.status_code == 200, r.text  # RFC 7009 §2.2 / RFC 7662 §2.2: unknown, inactive
    assert "Traceback" not in real_server.log()


# --- schemathesis over the OpenAPI document ------------------------------------


@pytest.fixture(scope="module")
def bearer(real_server: Server) -> str:
    with httpx.Client(base_url=real_server.url) as client:
        client.post("/auth/register", json={"username": "fuzz", "password": PASSWORD})
        token: str = client.post("/auth/login", json={"username": "fuzz", "password": PASSWORD}).json()["access_token"]
    return token


# The document is the one the server serves (same routes, metrics token set),
# built in-process so the schema is known at collection time: schemathesis'
# lazy fixture loader reaches into pytest internals that pytest 9 removed.
schema = schemathesis.openapi.from_dict(openapi_document(ROUTES, metrics_protected=True))


def test_served_document_is_the_tested_one(real_server: Server) -> None:
    served = httpx.get(real_server.url + "/openapi.json").json()
    assert served == openapi_document(ROUTES, metrics_protected=True)


@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_openapi_contract(case: Any, real_server: Server, bearer: str) -> None:
    case.call_and_validate(
        base_url=real_server.url,
        headers={"authorization": f"Bearer {bearer}"},
        checks=[not_a_server_error, ignored_auth, response_schema_conformance],
    )
