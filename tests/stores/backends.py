"""Test backends: a fresh database per run on the PostgreSQL and MariaDB
servers named by KEYTURN_TEST_*_URL, a key prefix per test on the shared
Redis, and Redis servers (single, Cluster) started here from ``redis-server``
on free loopback ports and stopped by PID."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from collections.abc import Callable, Coroutine

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from keyturn.stores.sql.engine import async_url
from keyturn.stores.sql.store import SqlStore

POSTGRES_URL = os.environ.get("KEYTURN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("KEYTURN_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
T = TypeVar("T")
REDIS_URL = os.environ.get("KEYTURN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def run_async(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion on its own loop in a worker thread, so
    session fixtures work whether or not a loop is already running."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


def with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    root = base.rsplit("/", 1)[0]
    return f"{root}/{name}" + (f"?{query}" if query else "")


async def _admin(url: str, statement: str) -> None:
    engine = create_async_engine(async_url(url), isolation_level="AUTOCOMMIT")
    try:
        async with asyncio.timeout(10):
            async with engine.connect() as conn:
                await conn.execute(sa.text(statement))
    finally:
        await engine.dispose()


def create_database(url: str) -> str:
    """Create ``kt_<random>`` next to ``url``'s database and migrate it."""
    name = f"kt_{secrets.token_hex(6)}"
    run_async(lambda: _admin(url, f"CREATE DATABASE {name}"))
    fresh = with_database(url, name)
    migrate(fresh)
    return fresh


def migrate(url: str) -> None:
    """Bring the database ``url`` names to the head of the migrations."""

    async def run() -> None:
        store = SqlStore.from_url(url)
        try:
            await store.migrate()
        finally:
            await store.close()

    run_async(run)


def drop_database(url: str, fresh: str) -> None:
    name = fresh.partition("?")[0].rsplit("/", 1)[1]
    force = " WITH (FORCE)" if url.startswith("postgres") else ""
    run_async(lambda: _admin(url, f"DROP DATABASE IF EXISTS {name}{force}"))


@dataclass
class RedisServer:
    """A redis-server we started (AOF on, fsync always) and may kill."""

    port: int
    dir: Path
    args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        cmd = [
            shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.dir), "--appendonly", "yes", "--appendfsync", "always", "--save", "",
            "--protected-mode", "no", *self.args,
        ]
        log = (self.dir / "redis.log").open("ab")
        self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        wait_for_redis(self.port, self.process)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None


def redis_cli(port: int, *args: str, timeout: float = 10) -> str:
    out = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args],
        capture_output=True, text=True, timeout=timeout, check=False,
    )
    return out.stdout.strip()


def wait_for_redis(port: int, process: subprocess.Popen[bytes], limit: float = 15) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server on {port} exited")
        if redis_cli(port, "ping") == "PONG":
            return
        time.sleep(0.05)
    raise RuntimeError(f"redis-server on {port} did not answer")


def cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too."""
    import random
    import socket

    for _ in range(200):
        port = random.randint(20000, 45000)
        try:
            with socket.socket() as a, socket.socket() as c:
                a.bind(("127.0.0.1", port))
                c.bind(("127.0.0.1", port + 10000))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair for a Redis Cluster node")


def start_cluster(servers: list[RedisServer]) -> str:
    """Start cluster-enabled servers, join them (no replicas), wait until all
    slots are served; returns a ``redis+cluster://`` URL."""
    for s in servers:
        s.args = ["--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{s.port}.conf",
                  "--cluster-node-timeout", "2000"]
        s.start()
    nodes = [f"127.0.0.1:{s.port}" for s in servers]
    subprocess.run(
        ["redis-cli", "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
        capture_output=True, text=True, timeout=60, check=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if all("cluster_state:ok" in redis_cli(s.port, "cluster", "info") for s in servers):
            return "redis+cluster://" + ",".join(nodes)
        time.sleep(0.1)
    raise RuntimeError("the Redis Cluster did not become ready")


def wipe_database(url: str, tables: tuple[str, ...] = ("kt_sessions", "kt_users", "kt_signing_keys", "kt_events", "kt_revocations")) -> None:
    """Empty keyturn's tables (the schema stays), so a test starts clean."""

    async def wipe() -> None:
        engine = create_async_engine(async_url(url))
        try:
            async with engine.begin() as conn:
                for table in tables:
                    await conn.execute(sa.text(f"DELETE FROM {table}"))
        finally:
            await engine.dispose()

    run_async(wipe)


def wipe_redis_prefix(url: str, prefix: str) -> None:
    """Delete a test's keys from a shared single-node Redis."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            client.delete(key)
    finally:
        client.close()
