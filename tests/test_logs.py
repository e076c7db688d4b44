"""Logs: JSON lines with request ids from a real ``keyturn serve``, and never
a secret in them."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import httpx
import pytest

from keyturn.logs import CURRENT, JsonFormatter, RequestContext, TextFormatter, logging_config, resolve_format
from keyturn.service.masterkey import new_master_key
from tests.conftest import PASSWORD, start_server, stop_server

pytestmark = pytest.mark.slow
WRONG = "not the right password at all"


def _full_flow(url: str) -> tuple[list[str], list[dict[str, object]]]:
    """register, login, refresh, me, logout, a failed login; every secret used."""
    secrets: list[str] = [PASSWORD, WRONG]
    with httpx.Client(base_url=url) as c:
        assert c.post("/auth/register", json={"username": "alice", "password": PASSWORD}).status_code == 201
        login = c.post("/auth/login", json={"username": "alice", "password": PASSWORD},
                       headers={"x-request-id": "flow-login-1"})
        first = login.json()
        second = c.post("/auth/refresh", json={"refresh_token": first["refresh_token"]}).json()
        assert c.get("/auth/me", headers={"authorization": f"Bearer {second['access_token']}"}).status_code == 200
        assert c.post("/auth/logout", headers={"authorization": f"Bearer {second['access_token']}"}).status_code == 204
        assert c.post("/auth/login", json={"username": "alice", "password": WRONG}).status_code == 401
    for tokens in (first, second):
        for name in ("access_token", "refresh_token"):
            value = str(tokens[name])
            secrets.append(value)
            # The parts that matter on their own: the JWT signature, the refresh secret.
            # (The refresh secret is cut by position: base64url may itself contain "_".)
            secrets.append(value.rsplit(".", 1)[-1] if name == "access_token" else value[len("krt_") + 22 + 1:])
    return secrets, [first, second]


def test_full_flow_logs_no_secret(tmp_path: Path) -> None:
    master = new_master_key()
    server = start_server(tmp_path, {"KEYTURN_MASTER_KEY": master, "KEYTURN_LOG_FORMAT": "json"})
    try:
        secrets, tokens = _full_flow(server.url)
    finally:
        stop_server(server)
    text = server.log()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "keyturn.access"]
    assert len(access) >= 7  # healthz probes + the six calls
    login = [line for line in access if line.get("request_id") == "flow-login-1"]
    assert login and login[0]["route"] == "/auth/login" and login[0]["status"] == 200
    events = {line.get("event") for line in lines if line["logger"] == "keyturn.events"}
    assert {"login", "logout", "login_failed"} <= events
    failed = [line for line in lines if line.get("event") == "login_failed"]
    assert failed[0]["request_id"]  # security events carry the request's id too
    for secret in [*secrets, master]:
        assert secret not in text, "a secret reached the log"
    assert tokens[0]["session_id"] in text  # ids are logged: they are not secrets


def _record(msg: str = "GET /auth/me 200", **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("keyturn.access", logging.INFO, __file__, 1, msg, None, None)
    record.__dict__.update(extra)
    return record


def test_json_line_carries_request_id_and_extras() -> None:
    token = CURRENT.set(RequestContext("rid-1"))
    try:
        line = json.loads(JsonFormatter().format(_record(status=200, route="/auth/me")))
    finally:
        CURRENT.reset(token)
    assert line["request_id"] == "rid-1"
    assert line["status"] == 200 and line["route"] == "/auth/me" and line["level"] == "info"


def test_text_line_is_readable() -> None:
    text = TextFormatter().format(_record(status=200, request_id="rid-2"))
    assert "INFO" in text and "GET /auth/me 200" in text and "[req=rid-2]" in text and "status=200" in text


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("fmt", "stream", "expected"), [
    ("auto", _Tty(), "text"), ("auto", io.StringIO(), "json"), ("json", _Tty(), "json"), ("text", io.StringIO(), "text"),
])
def test_format_follows_the_terminal(fmt: str, stream: io.StringIO, expected: str) -> None:
    assert resolve_format(fmt, stream) == expected  # type: ignore[arg-type]


def test_logging_config_is_applicable() -> None:
    config = logging_config("info", "json")
    assert config["formatters"]["keyturn"]["kind"] == "json"
    assert config["loggers"]["uvicorn.access"]["propagate"] is False
