"""Security events: stored, JSON log lines, `keyturn events tail`, and the
signed webhook that never blocks a request."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from keyturn.cli import app as cli_app
from keyturn.clock import FrozenClock
from keyturn.service.masterkey import new_master_key
from keyturn.service.webhook import SIGNATURE_HEADER, WebhookSender, sign, verify_signature
from tests.conftest import FAST_ARGON2_ENV, PASSWORD, Api


async def types(api: Api) -> list[str]:
    return [e.type for e in await api.runtime.stores.events.list_events(limit=1000)]


async def test_the_lifecycle_is_recorded(make_api: Callable[..., Any]) -> None:
    async with make_api(max_sessions_per_user=2, reuse_interval=0, login_max_failures=2) as api:
        a = await api.user_and_login()
        api.clock.advance(1)
        b = (await api.login()).json()
        api.clock.advance(1)
        await api.login()  # evicts a, the least recently used
        await api.login("alice", "wrong password, long enough")
        await api.login("alice", "wrong password, long enough")  # reaches the limit: lockout
        api.clock.advance(5)
        new = (await api.refresh(b["refresh_token"])).json()
        api.clock.advance(1)
        await api.refresh(b["refresh_token"], headers={"user-agent": "thief/1"})  # reuse
        c = (await api.login()).json()
        await api.post("/auth/password", c["access_token"],
                       json={"current_password": PASSWORD, "new_password": "another long passphrase"})
        await api.post("/auth/logout", c["access_token"])
        d = (await api.login("alice", "another long passphrase")).json()
        await api.post("/auth/logout-all", d["access_token"])
        found = await types(api)
        for expected in ["login", "session_evicted", "login_failed", "lockout", "refresh_token_reused",
                         "password_changed", "logout", "logout_all"]:
            assert expected in found, (expected, found)
        assert a and new


async def test_reuse_event_carries_both_sides(make_api: Callable[..., Any]) -> None:
    async with make_api(reuse_interval=0, trusted_proxies=["203.0.113.7/32"]) as api:
        a = await api.user_and_login()
        api.clock.advance(1)
        await api.refresh(a["refresh_token"], headers={"user-agent": "holder/1"})
        api.clock.advance(1)
        await api.refresh(a["refresh_token"], headers={"x-forwarded-for": "198.51.100.6", "user-agent": "thief/1"})
        [event] = [e for e in await api.runtime.stores.events.list_events() if e.type == "refresh_token_reused"]
        detail = orjson.loads(event.detail)
        assert detail["holder"]["ip"] == "203.0.113.7" and detail["holder"]["user_agent"] == "holder/1"
        assert detail["presenter"]["ip"] == "198.51.100.6" and detail["presenter"]["user_agent"] == "thief/1"


async def test_events_are_json_log_lines(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="keyturn.events"):
        await api.user_and_login()
    from keyturn.logs import JsonFormatter

    lines = [orjson.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "keyturn.events"]
    assert [line["type"] for line in lines] == ["login"]
    assert [line["event"] for line in lines] == ["login"]
    assert lines[0]["ip"] == "203.0.113.7"
    assert lines[0]["msg"] == "security event login"


def test_cli_events_tail(tmp_path: Path) -> None:
    env = {"KEYTURN_DATABASE_URL": f"sqlite:///{tmp_path}/k.db", "KEYTURN_MASTER_KEY": new_master_key(), **FAST_ARGON2_ENV}
    runner = CliRunner()
    for name in ("alice", "bob"):
        assert runner.invoke(cli_app, ["users", "add", name, "--password", PASSWORD], env=env).exit_code == 0
        assert runner.invoke(cli_app, ["users", "disable", name], env=env).exit_code == 0
    everything = runner.invoke(cli_app, ["events", "tail", "--json"], env=env)
    assert [orjson.loads(x)["type"] for x in everything.output.splitlines()] == ["user_disabled"] * 2
    assert all(orjson.loads(x)["at"].endswith("Z") for x in everything.output.splitlines())
    only_bob = runner.invoke(cli_app, ["events", "tail", "--user", "bob"], env=env).output.splitlines()
    assert only_bob[0].split()[:3] == ["AT", "TYPE", "USERNAME"]
    assert len(only_bob) == 2 and only_bob[1].split()[1:3] == ["user_disabled", "bob"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", only_bob[1].split()[0])
    assert runner.invoke(cli_app, ["events", "tail", "--user", "nobody"], env=env).exit_code == 1


def test_signature_format_and_check() -> None:
    header = sign("secret", 1_700_000_000, b'{"a":1}')
    assert header.startswith("t=1700000000,v1=") and len(header.split("v1=")[1]) == 64
    assert verify_signature("secret", header, b'{"a":1}', now=1_700_000_010)
    assert not verify_signature("secret", header, b'{"a":2}', now=1_700_000_010)
    assert not verify_signature("other", header, b'{"a":1}', now=1_700_000_010)
    assert not verify_signature("secret", header, b'{"a":1}', now=1_700_001_000)


async def test_webhook_delivers_signed_and_retries_with_backoff() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(500 if len(seen) < 3 else 204)

    clock = FrozenClock()
    sender = WebhookSender("http://hooks.test/in", "s3cret", clock=clock, base_delay=0.001,
                           transport=httpx.MockTransport(handler))
    await sender.start()
    assert sender.submit({"type": "login", "user_id": "u1"})
    await sender.close(drain=5)
    assert len(seen) == 3 and sender.delivered == 1
    last = seen[-1]
    assert verify_signature("s3cret", last.headers[SIGNATURE_HEADER], last.content, now=clock.now())
    assert orjson.loads(last.content)["type"] == "login"


async def test_webhook_queue_is_bounded_and_never_blocks() -> None:
    sender = WebhookSender("http://hooks.test/in", "s", clock=FrozenClock(), queue_size=2)
    # Not started: nothing drains the queue.
    assert [sender.submit({"n": i}) for i in range(4)] == [True, True, False, False]
    assert sender.dropped == 2


async def test_a_dead_webhook_does_not_fail_or_block_requests(make_api: Callable[..., Any]) -> None:
    async with make_api(webhook_url="http://127.0.0.1:9/hook", webhook_secret="k" * 32) as api:
        tokens = await api.user_and_login()
        assert tokens["access_token"]
        assert api.runtime.webhook is not None
        r = await asyncio.wait_for(api.refresh(tokens["refresh_token"]), timeout=30)
        assert r.status_code == 200


async def test_the_app_posts_events_to_the_webhook(make_api: Callable[..., Any]) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    async with make_api(webhook_url="http://hooks.test/in", webhook_secret="k" * 32) as api:
        webhook = api.runtime.webhook
        assert webhook is not None
        await webhook.close()
        webhook._transport = httpx.MockTransport(handler)
        await webhook.start()
        await api.user_and_login()
        await webhook.close(drain=5)
    assert [orjson.loads(r.content)["type"] for r in seen] == ["login"]
    assert verify_signature("k" * 32, seen[0].headers[SIGNATURE_HEADER], seen[0].content, now=api.clock.now())


def test_a_webhook_without_a_secret_refuses_to_start(make_settings: Callable[..., Any]) -> None:
    from keyturn.errors import ConfigError
    from keyturn.service.wiring import build_runtime

    with pytest.raises(ConfigError, match="WEBHOOK_SECRET"):
        build_runtime(make_settings(webhook_url="http://hooks.test/in"))
