"""The audit is bounded and polite: usage errors exit 2 before any
request, non-loopback targets need --i-own-this-system, --max-requests
holds (counted by the target), the time budget stops new requests, and no
full token or the password ever reaches the output."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest

from keyturn.audit import target as target_module
from keyturn.audit.probe import BudgetExhausted, Probe, Redactor
from tests.audit.conftest import SEED_PROFILE, Seed, audit
from tests.conftest import PASSWORD, Server


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record (and refuse) any request or connection the audit tries."""
    made: list[str] = []

    async def send(self: Any, request: httpx.Request, **kw: Any) -> httpx.Response:
        made.append(str(request.url))
        raise AssertionError("no request may be made")

    async def connect(*args: Any, **kw: Any) -> Any:
        made.append(f"connect {args}")
        raise AssertionError("no connection may be made")

    monkeypatch.setattr(httpx.AsyncClient, "send", send)
    monkeypatch.setattr(asyncio, "open_connection", connect)
    return made


@pytest.mark.parametrize("args, message", [
    (["http://198.51.100.7:8000"], "--i-own-this-system"),
    (["http://[2001:db8::1]:8000"], "--i-own-this-system"),
    (["ftp://127.0.0.1/"], "not an http(s) URL"),
    (["127.0.0.1:8000"], "not an http(s) URL"),
    (["http://127.0.0.1:9", "--profile", "nope"], "unknown profile"),
    (["http://127.0.0.1:9", "--check", "no-such-check"], "unknown check"),
])
def test_usage_errors_exit_2_without_a_request(no_network: list[str], args: list[str], message: str) -> None:
    run = audit(*args)
    assert run.exit_code == 2
    assert message in run.stderr
    assert no_network == []


def test_missing_credentials_exit_2_without_a_request(no_network: list[str]) -> None:
    run = audit("http://127.0.0.1:9", password="")
    assert run.exit_code == 2
    assert "--password" in run.stderr
    assert no_network == []


def test_wrong_password_is_a_usage_error(seed: Seed) -> None:
    run = audit(seed.url, "-p", str(SEED_PROFILE), password="not the password")
    assert run.exit_code == 2
    assert "cannot log in" in run.stderr
    assert "not the password" not in run.stderr + run.stdout


def test_unreachable_target_is_a_usage_error() -> None:
    from tests.conftest import free_port

    run = audit(f"http://127.0.0.1:{free_port()}")
    assert run.exit_code == 2
    assert "cannot reach" in run.stderr
    assert "connection refused" in run.stderr and "ConnectError" not in run.stderr


def test_a_budget_too_small_to_log_in_is_a_usage_error(seed: Seed) -> None:
    run = audit(seed.url, "-p", str(SEED_PROFILE), "--max-requests", "1")
    assert run.exit_code == 2
    assert "--max-requests 1 is too small" in run.stderr
    assert seed.requests_seen() == 0


@pytest.mark.parametrize("budget", [12, 40])
def test_max_requests_holds_as_the_target_counts_them(seed: Seed, budget: int) -> None:
    run = audit(seed.url, "-p", str(SEED_PROFILE), "--json", "--max-requests", str(budget))
    assert seed.requests_seen() <= budget
    report = run.json()
    assert report["requests"] == seed.requests_seen()
    skipped = [r for r in report["results"] if r["status"] == "SKIP" and "max-requests" in r["evidence"]]
    assert skipped, report["results"]


def test_the_time_budget_stops_new_requests() -> None:
    now = [0.0]
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        now[0] += 30  # each answer "takes" 30 s
        return httpx.Response(200)

    async def run() -> None:
        probe = Probe("http://127.0.0.1:9", max_requests=100, seconds=60,
                      transport=httpx.MockTransport(handler), clock=lambda: now[0])
        try:
            await probe.send("GET", "/a")
            await probe.send("GET", "/b")
            with pytest.raises(BudgetExhausted, match="time budget"):
                await probe.send("GET", "/c")
        finally:
            await probe.close()

    asyncio.run(run())
    assert [c.rsplit("/", 1)[1] for c in calls] == ["a", "b"]


def test_the_default_time_budget_is_a_minute() -> None:
    from keyturn.audit.command import audit as command

    import inspect

    default = inspect.signature(command).parameters["seconds"].default
    assert default.default == 60.0


def _collect_tokens(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    seen: set[str] = set()
    original = target_module.Target.remember

    def remember(self: Any, *tokens: str | None) -> None:
        seen.update(t for t in tokens if t)
        original(self, *tokens)

    monkeypatch.setattr(target_module.Target, "remember", remember)
    return seen


JWT_SHAPED = re.compile(r"[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.")


def _assert_clean(output: str, tokens: set[str]) -> None:
    assert PASSWORD not in output
    leaked = [t[:12] for t in tokens if t in output]
    assert leaked == []
    assert not JWT_SHAPED.search(output)
    assert not re.search(r"krt_[A-Za-z0-9_-]{7,}", output)


@pytest.mark.parametrize("fmt", ["--json", "--text"])
def test_no_full_token_or_password_in_seed_output(seed: Seed, monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    tokens = _collect_tokens(monkeypatch)
    args = ["-p", str(SEED_PROFILE)] + (["--json"] if fmt == "--json" else [])
    run = audit(seed.url, *args)
    assert len(tokens) >= 20  # the audit did handle real tokens
    assert "…[" in run.stdout  # and showed them shortened
    _assert_clean(run.stdout + run.stderr, tokens)


def test_no_full_token_or_password_in_keyturn_output(keyturn_on: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = _collect_tokens(monkeypatch)
    run = audit(keyturn_on.url, "--json", "--throttling")
    assert len(tokens) >= 20
    _assert_clean(run.stdout + run.stderr, tokens)


@pytest.mark.parametrize("text", [
    "token eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlc2lnbmF0dXJl here",
    "krt_3q2-7wEjR0m4yH2p_0cXdA_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "opaque " + "Zm9vYmFy" * 8,
])
def test_redactor_shortens_unregistered_secrets(text: str) -> None:
    out = Redactor()(text)
    longest = max(re.findall(r"[A-Za-z0-9_.\-]+", text), key=len)
    assert longest not in out
    assert "…[" in out


def test_redactor_hides_registered_secrets_and_the_password() -> None:
    redact = Redactor()
    redact.add_token("short-ish-opaque-token")
    redact.add_password("hunter22")
    out = redact("presented short-ish-opaque-token with hunter22")
    assert "short-ish-opaque-token" not in out and "hunter22" not in out
    assert "[password]" in out
