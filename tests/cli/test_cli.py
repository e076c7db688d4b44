"""The CLI end to end on a temporary SQLite database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from keyturn.service.masterkey import new_master_key
from tests.conftest import FAST_ARGON2_ENV, PASSWORD

pytestmark = pytest.mark.slow


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {**os.environ, **FAST_ARGON2_ENV, "KEYTURN_DATABASE_URL": f"sqlite:///{tmp_path}/kt.db",
           "KEYTURN_MASTER_KEY": new_master_key()}

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "keyturn", *args], env=env, input=stdin,
                              capture_output=True, text=True, timeout=60)

    return run


def test_help_lists_commands(run) -> None:  # type: ignore[no-untyped-def]
    out = run("--help").stdout
    for cmd in ("serve", "users", "sessions", "db"):
        assert cmd in out
    assert "add" in run("users", "--help").stdout


def test_users_and_sessions(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert run("db", "upgrade").returncode == 0
    r = run("users", "add", "Alice", "--password", PASSWORD)
    assert r.returncode == 0, r.stderr
    assert run("users", "add", "bob", stdin=PASSWORD + "\n").returncode == 0
    listed = run("users", "list").stdout
    assert "alice" in listed and "bob" in listed
    r = run("users", "add", "carol", "--password", "short")
    assert r.returncode == 1 and r.stderr.startswith("keyturn: error:") and "Traceback" not in r.stderr
    # A session made through the library shows up in the CLI, and revoking it works.
    import asyncio

    from keyturn.config import Settings
    from keyturn.service.wiring import build_runtime

    async def login() -> str:
        rt = build_runtime(Settings(database_url=f"sqlite:///{tmp_path}/kt.db",
                                    master_key=r_env_key(run), argon2_time_cost=1, argon2_memory_cost=1024,
                                    argon2_parallelism=1))
        await rt.start()
        try:
            pair = await rt.service.login("alice", PASSWORD, ip="192.0.2.1", user_agent="cli-test")
            return pair.session_id
        finally:
            await rt.close()

    sid = asyncio.run(login())
    assert sid in run("sessions", "list").stdout
    assert sid in run("sessions", "list", "--user", "alice").stdout
    # "--" ends the options: a session id may start with "-".
    assert run("sessions", "revoke", "--", sid).returncode == 0
    assert sid not in run("sessions", "list").stdout
    assert run("sessions", "revoke", "--", sid).returncode == 1
    assert run("users", "disable", "bob").returncode == 0
    assert "disabled" in run("users", "list").stdout


def r_env_key(run) -> str:  # type: ignore[no-untyped-def]
    cell = run.__closure__  # the fixture's env dict
    for c in cell:
        if isinstance(c.cell_contents, dict) and "KEYTURN_MASTER_KEY" in c.cell_contents:
            return str(c.cell_contents["KEYTURN_MASTER_KEY"])
    raise AssertionError("no master key in the fixture env")
