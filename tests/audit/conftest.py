"""Targets for ``keyturn audit``: a real ``keyturn serve`` on each engine,
and the seed-style app (tests/audit/seed_app.py) under uvicorn, each on a
free loopback port and stopped by PID."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from keyturn.cli import app as cli_app
from keyturn.service.masterkey import new_master_key
from tests.conftest import PASSWORD, Server, backend_unavailable, free_port, lane, start_server, stop_server

ROOT = Path(__file__).resolve().parents[2]
SEED_PROFILE = ROOT / "examples" / "audit-seed.toml"
AUDITOR = "auditor"


@dataclass
class Seed(Server):
    """The seed app's process; stopped like any server (``stop_server``)."""

    def requests_seen(self) -> int:
        count: int = httpx.get(self.url + "/__requests", timeout=5).json()["requests"]
        return count


def start_seed(tmp: Path, variant: str) -> Seed:
    port = free_port()
    log_path = tmp / f"seed-{variant}.log"
    env = {**os.environ, "SEED_USERNAME": AUDITOR, "SEED_PASSWORD": PASSWORD}
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "audit" / "seed_app.py"), "--port", str(port), "--variant", variant],
        env=env, stdout=log_path.open("wb"), stderr=subprocess.STDOUT,
    )
    seed = Seed(f"http://127.0.0.1:{port}", proc, env, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(seed.log())
        try:
            httpx.get(seed.url + "/__requests", timeout=1)
            return seed
        except httpx.HTTPError:
            time.sleep(0.1)
    stop_server(seed)
    raise RuntimeError("the seed app did not come up in 30 s")


@pytest.fixture
@lane("slow")
def seed(tmp_path: Path) -> Iterator[Seed]:
    """The seed-style app with all its holes."""
    s = start_seed(tmp_path, "seed")
    try:
        yield s
    finally:
        stop_server(s)


@pytest.fixture
@lane("slow")
def mended_seed(tmp_path: Path) -> Iterator[Seed]:
    """The half-mended variant: atomic compare-and-set, typed bearer."""
    s = start_seed(tmp_path, "fixed")
    try:
        yield s
    finally:
        stop_server(s)


def _engine_env(engine: str, request: pytest.FixtureRequest) -> dict[str, str]:
    """Settings for ``engine``; registers the cleanup of what it creates."""
    from tests.stores import backends as b

    if engine == "postgresql":
        try:
            url = b.create_database(b.POSTGRES_URL)
        except Exception as exc:  # any failure to reach or use the server
            backend_unavailable(f"PostgreSQL at {b.POSTGRES_URL}: {type(exc).__name__}: {exc}")
            raise
        request.addfinalizer(lambda: b.drop_database(b.POSTGRES_URL, url))
        return {"KEYTURN_DATABASE_URL": url}
    if engine == "redis":
        import redis

        try:
            redis.Redis.from_url(b.REDIS_URL, socket_timeout=3, socket_connect_timeout=3).ping()
        except redis.RedisError as exc:
            backend_unavailable(f"Redis at {b.REDIS_URL}: {exc}")
        prefix = f"kt-audit-{secrets.token_hex(4)}"
        request.addfinalizer(lambda: b.wipe_redis_prefix(b.REDIS_URL, prefix))
        return {"KEYTURN_SESSION_STORE_URL": b.REDIS_URL, "KEYTURN_REDIS_KEY_PREFIX": prefix}
    return {}


@pytest.fixture
@lane("slow", params={"postgresql": ["backend"], "redis": ["backend"]})
def keyturn_on(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """``keyturn serve`` on the engine the test is parametrised with, with the test account."""
    engine: str = getattr(request, "param", "sqlite")
    env = {"KEYTURN_MASTER_KEY": new_master_key(), **_engine_env(engine, request)}
    srv = start_server(tmp_path, env)
    try:
        r = httpx.post(srv.url + "/auth/register", json={"username": AUDITOR, "password": PASSWORD}, timeout=10)
        assert r.status_code == 201, r.text
        yield srv
    finally:
        stop_server(srv)


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(self.stdout)
        return body

    def statuses(self) -> dict[str, str]:
        return {row["id"]: row["status"] for row in self.json()["results"]}


def audit(*args: str, password: str = PASSWORD) -> Run:
    """``keyturn audit ARGS`` in-process, as the test account."""
    result = CliRunner().invoke(cli_app, ["audit", *args], env={
        "KEYTURN_AUDIT_USERNAME": AUDITOR, "KEYTURN_AUDIT_PASSWORD": password})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Run(result.exit_code, result.stdout, result.stderr)
