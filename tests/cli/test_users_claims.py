"""``keyturn users set`` and ``keyturn users show``: claims and scope from the
command line, refused names named, and a live session's next refresh
carrying the change."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from keyturn.config import Settings
from keyturn.service.masterkey import new_master_key
from keyturn.service.wiring import build_runtime
from tests.conftest import FAST_ARGON2_ENV, PASSWORD

pytestmark = pytest.mark.slow
Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, **FAST_ARGON2_ENV, "KEYTURN_DATABASE_URL": f"sqlite:///{tmp_path}/kt.db",
            "KEYTURN_MASTER_KEY": new_master_key()}


@pytest.fixture
def run(env: dict[str, str]) -> Run:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "keyturn", *args], env=env, capture_output=True, text=True,
                              timeout=60)

    return run


def test_set_then_show(run: Run) -> None:
    assert run("users", "add", "alice", "--password", PASSWORD).returncode == 0
    r = run("users", "set", "alice", "--claims", '{"roles": ["admin"], "tenant": "acme"}', "--scope", "read write")
    assert r.returncode == 0, r.stderr
    shown = json.loads(run("users", "show", "alice", "--json").stdout)
    assert (shown["claims"], shown["scope"]) == ({"roles": ["admin"], "tenant": "acme"}, "read write")
    assert "read write" in run("users", "show", "alice").stdout
    assert run("users", "set", "alice", "--scope", "").returncode == 0  # scope cleared, claims kept
    shown = json.loads(run("users", "show", "alice", "--json").stdout)
    assert (shown["claims"], shown["scope"]) == ({"roles": ["admin"], "tenant": "acme"}, None)


@pytest.mark.parametrize(("claims", "named"), [
    ('{"sub": "root"}', "'sub'"), ('{"iss": "x"}', "'iss'"), ('{"client_id": "x"}', "'client_id'"),
    ('{"scope": "all"}', "'scope'"), ('{"sid": "x"}', "'sid'"), ("[1]", "JSON object"), ("{nope", "not valid JSON"),
])
def test_refused_claims_are_one_line_naming_the_problem(run: Run, claims: str, named: str) -> None:
    assert run("users", "add", "alice", "--password", PASSWORD).returncode == 0
    r = run("users", "set", "alice", "--claims", claims)
    assert r.returncode != 0 and r.stderr.startswith("keyturn: error:") and named in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_unknown_user_and_nothing_to_set(run: Run) -> None:
    assert run("users", "add", "alice", "--password", PASSWORD).returncode == 0
    assert "no such user" in run("users", "set", "nobody", "--scope", "a").stderr
    assert "nothing to set" in run("users", "set", "alice").stderr


def test_a_live_session_refreshes_into_the_new_claims(run: Run, env: dict[str, str]) -> None:
    """``users set`` in another process; the service's next refresh carries it."""
    assert run("users", "add", "alice", "--password", PASSWORD).returncode == 0
    settings = Settings(database_url=env["KEYTURN_DATABASE_URL"], master_key=env["KEYTURN_MASTER_KEY"],
                        argon2_time_cost=1, argon2_memory_cost=1024, argon2_parallelism=1)

    async def session() -> tuple[str, object]:
        rt = build_runtime(settings)
        await rt.start()
        try:
            pair = await rt.service.login("alice", PASSWORD, ip="203.0.113.7", user_agent="t")
            pair = await rt.service.refresh(pair.refresh_token, ip="203.0.113.7", user_agent="t")
            before = (await rt.service.check_access(pair.access_token)).extra
            r = await asyncio.to_thread(run, "users", "set", "alice", "--claims", '{"roles": ["billing"]}')
            assert r.returncode == 0, r.stderr
            pair = await rt.service.refresh(pair.refresh_token, ip="203.0.113.7", user_agent="t")
            return str(before), (await rt.service.check_access(pair.access_token)).extra
        finally:
            await rt.close()

    before, after = asyncio.run(session())
    assert (before, after) == ("{}", {"roles": ["billing"]})
