"""``keyturn doctor`` checks every part, whatever fails first: one line per
finding, a fix that adds something to the finding, and never a traceback —
a wrong role or database is exactly what it exists to diagnose."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from keyturn.service.masterkey import new_master_key
from tests.conftest import free_port, lane
from tests.stores import backends as b

ROOT = Path(__file__).resolve().parents[2]


def doctor(env: dict[str, str], cwd: Path) -> tuple[int, list[str], str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("KEYTURN_")}
    full.update({"PYTHONPATH": str(ROOT), "KEYTURN_MASTER_KEY": new_master_key(), "KEYTURN_STORE_TIMEOUT": "2",
                 **env})
    done = subprocess.run([sys.executable, "-m", "keyturn", "doctor"], env=full, cwd=cwd, capture_output=True,
                          text=True, timeout=120)
    return done.returncode, done.stdout.splitlines(), done.stderr


def finding(lines: list[str], name: str) -> str:
    (line,) = [line for line in lines if line.split("] ", 1)[-1].startswith(name + ":")]
    return line


def one_line_each(lines: list[str], stderr: str) -> None:
    assert "Traceback" not in stderr and "Traceback" not in "\n".join(lines), stderr
    assert stderr.strip() == ""
    assert lines and all(line.startswith("[") for line in lines), lines
    for line in lines:
        if " -- fix: " in line:
            detail, fix = line.split(" -- fix: ")
            assert fix and fix not in detail


@pytest.fixture(scope="module")
def sqlite_ok(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('db')}/k.db"


@pytest.mark.parametrize(("url", "reason", "fix"), [
    ("postgresql://nosuchrole@127.0.0.1:5432/test", 'role "nosuchrole" does not exist', "CREATE ROLE"),
    ("postgresql://postgres@127.0.0.1:5432/nosuchdb", 'database "nosuchdb" does not exist', "createdb"),
    ("mysql://root@127.0.0.1:3306/nosuchdb", "Unknown database", "CREATE DATABASE"),
    (f"postgresql://postgres@127.0.0.1:{free_port()}/test", "connection refused", "nothing listens there"),
])
@pytest.mark.slow
def test_a_wrong_database_is_one_line_with_its_fix_and_the_rest_still_checked(
    tmp_path: Path, url: str, reason: str, fix: str
) -> None:
    code, lines, stderr = doctor({"KEYTURN_DATABASE_URL": url}, tmp_path)
    assert code == 1
    one_line_each(lines, stderr)
    line = finding(lines, "database")
    assert line.startswith("[FAIL]") and reason in line and fix in line
    for later in ("migrations", "signing keys", "database clock"):
        finding(lines, later)  # reported, not silently dropped


@pytest.mark.slow
def test_no_database_yet_still_checks_the_session_store(tmp_path: Path) -> None:
    code, lines, stderr = doctor({"KEYTURN_DATABASE_URL": "sqlite:///./keyturn.db",
                                  "KEYTURN_SESSION_STORE_URL": "redis://127.0.0.1:6379/99"}, tmp_path)
    assert code == 1
    one_line_each(lines, stderr)
    assert f"no database at {tmp_path / 'keyturn.db'} yet" in finding(lines, "database")
    session = finding(lines, "session store")
    assert session.startswith("[FAIL]") and "DB index is out of range" in session and "databases" in session
    assert list(tmp_path.iterdir()) == []  # read-only: nothing created


@pytest.fixture
@lane("slow", "backend")
def careless_redis(tmp_path: Path) -> Iterator[b.RedisServer]:
    server = b.RedisServer(free_port(), tmp_path, args=["--appendonly", "no", "--maxmemory-policy", "allkeys-lru"])
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.slow
def test_redis_without_persistence_or_with_eviction_is_reported(
    tmp_path: Path, careless_redis: b.RedisServer, sqlite_ok: str
) -> None:
    env = {"KEYTURN_DATABASE_URL": sqlite_ok, "KEYTURN_SESSION_STORE_URL": careless_redis.url}
    code, lines, stderr = doctor(env, tmp_path)
    one_line_each(lines, stderr)
    persistence = finding(lines, "redis persistence")
    assert persistence.startswith("[WARN]") and "appendonly no" in persistence and "appendonly yes" in persistence
    eviction = finding(lines, "redis eviction")
    assert eviction.startswith("[FAIL]") and "allkeys-lru" in eviction and "noeviction" in eviction
    clock = finding(lines, "session store clock")  # one clock finding per store, with its offset
    assert clock.startswith("[ok") and "the session store's clock is " in clock and "this host's" in clock, clock
    assert finding(lines, "database clock").startswith("[skip]")  # no database file yet
    assert code == 1


def test_checks_are_a_list_of_independent_functions() -> None:
    """Adding a check is adding one function to ``CHECKS``; one that breaks
    is one line, the others still run."""
    import asyncio

    from keyturn.cli import doctor as d
    from keyturn.cli.doctor.settings import settings_checks
    from keyturn.config import load_settings

    async def broken(doc: d.Doctor) -> list[d.Check]:
        raise RuntimeError("boom\nsecond line")

    saved = list(d.CHECKS)
    d.CHECKS[:] = [broken, settings_checks]
    try:
        found = asyncio.run(d.diagnose(load_settings(database_url="memory:", master_key=new_master_key())))
    finally:
        d.CHECKS[:] = saved
    assert [(c.name, c.status) for c in found][:2] == [("broken", "fail"), ("configuration", "ok")]
    assert found[0].detail == "RuntimeError: boom"


def test_a_host_clock_years_behind_fails_each_store_clock_whatever_the_store_says() -> None:
    """The store may share the wrong clock (SQLite, the in-process store):
    an offset of zero must not make 1970 look fine."""
    import asyncio

    from keyturn.cli.doctor.clock import check_clock
    from keyturn.config import Settings
    from keyturn.stores.memory import MemoryStore

    found = asyncio.run(check_clock("database", MemoryStore(), Settings(), now=0.0))
    assert (found.name, found.status) == ("database clock", "fail")
    assert "system clock says 1970-01-01" in found.detail and "NTP" in found.fix
    unreachable = asyncio.run(check_clock("session store", None, Settings(), now=0.0))
    assert (unreachable.name, unreachable.status) == ("session store clock", "fail")
