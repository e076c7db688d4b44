"""The ``store`` fixture: one test body per engine (memory, sqlite,
postgresql, mariadb, redis, redis-cluster), Starlette-style."""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from keyturn.clock import FrozenClock
from keyturn.config import Settings
from keyturn.service.wiring import Runtime, build_runtime
from keyturn.stores.memory import MemoryStore
from keyturn.stores.redis.sessions import RedisSessionStore, open_client
from keyturn.stores.sql.store import SqlStore
from tests.conftest import backend_unavailable, free_port
from tests.stores import backends as b

ENGINES = ["memory", "sqlite", "postgresql", "mariadb", "redis", "redis-cluster"]
SQL_TABLES = ("kt_sessions", "kt_users", "kt_signing_keys", "kt_events", "kt_revocations")
_RUN = secrets.token_hex(4)
_counter = itertools.count()


def _sql_database(admin_url: str, what: str) -> Iterator[str]:
    try:
        fresh = b.create_database(admin_url)
    except Exception as exc:  # any failure to reach or use the server
        backend_unavailable(f"{what} at {admin_url}: {type(exc).__name__}: {exc}")
        raise
    try:
        yield fresh
    finally:
        b.drop_database(admin_url, fresh)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    yield from _sql_database(b.POSTGRES_URL, "PostgreSQL")


@pytest.fixture(scope="session")
def mysql_url() -> Iterator[str]:
    yield from _sql_database(b.MYSQL_URL, "MySQL/MariaDB")


@pytest.fixture
def clean_sql_url(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """``clean_sql_url("postgresql" | "mariadb")``: the run's database, emptied."""

    def get(engine: str) -> str:
        url: str = request.getfixturevalue("postgres_url" if engine == "postgresql" else "mysql_url")
        b.wipe_database(url)
        return url

    return get


@pytest.fixture(scope="session")
def redis_url() -> str:
    try:
        redis.Redis.from_url(b.REDIS_URL, socket_timeout=3, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        backend_unavailable(f"Redis at {b.REDIS_URL}: {exc}")
    return b.REDIS_URL


@pytest.fixture(scope="session")
def redis_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import shutil

    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        backend_unavailable("redis-server / redis-cli not installed (needed for the Redis Cluster tests)")
    base = tmp_path_factory.mktemp("cluster")
    servers = []
    for i in range(3):
        d = base / f"n{i}"
        d.mkdir()
        servers.append(b.RedisServer(b.cluster_port(), d))
    try:
        yield b.start_cluster(servers)
    finally:
        for s in servers:
            s.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[b.RedisServer]:
    """A private Redis (AOF, fsync always) that a test may kill and restart."""
    import shutil

    if shutil.which("redis-server") is None:
        backend_unavailable("redis-server not installed")
    server = b.RedisServer(free_port(), tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def _wipe_sql(store: SqlStore) -> None:
    import sqlalchemy as sa

    async with store.engine.begin() as conn:
        for table in SQL_TABLES:
            await conn.execute(sa.text(f"DELETE FROM {table}"))


async def _wipe_redis(store: RedisSessionStore) -> None:
    async with asyncio.timeout(30):
        async for key in store.client.scan_iter(match=f"{store.prefix}:*", count=1000):
            await store.client.delete(key)


def unique_prefix() -> str:
    return f"kt-test-{_RUN}-{next(_counter)}"




async def open_store(engine: str, request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if engine == "memory":
        return MemoryStore()
    if engine == "sqlite":
        store = SqlStore.from_url(f"sqlite:///{tmp_path}/store.db")
        await store.migrate()
        return store
    if engine in ("postgresql", "mariadb"):
        url = request.getfixturevalue("postgres_url" if engine == "postgresql" else "mysql_url")
        store = SqlStore.from_url(url, pool_size=20, pool_timeout=10)
        await _wipe_sql(store)
        return store
    url = request.getfixturevalue("redis_url" if engine == "redis" else "redis_cluster_url")
    rstore = RedisSessionStore(open_client(url, timeout=5.0), prefix=unique_prefix(), timeout=5.0)
    await rstore.migrate()
    return rstore


async def close_store(store: Any) -> None:
    if isinstance(store, RedisSessionStore):
        await _wipe_redis(store)
    await store.close()


@pytest.fixture(params=ENGINES)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """A fresh, empty session store of each engine."""
    s = await open_store(request.param, request, tmp_path)
    try:
        yield s
    finally:
        await close_store(s)


@pytest.fixture
def make_runtime(
    store: Any, clock: FrozenClock, make_settings: Callable[..., Settings]
) -> Callable[..., Any]:
    """A started Runtime (TokenService) on ``store``; SQL engines also hold
    users and keys, the others get an in-memory database beside them."""
    database = store if isinstance(store, SqlStore) else MemoryStore()
    master = make_settings().master_key

    async def make(**overrides: Any) -> Runtime:
        settings = make_settings(master_key=master, **overrides)
        rt = build_runtime(settings, clock=clock, database=database, session_store=store)
        await rt.start()
        return rt

    return make


@pytest.fixture(params=["memory", "sqlite", "postgresql", "mariadb"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """A fresh, empty store of each engine that can hold users and keys."""
    s = await open_store(request.param, request, tmp_path)
    try:
        yield s
    finally:
        await close_store(s)


# The security stores' engines (counters, denylist, replay cache, clients).
from tests.stores.security_engines import client_store, security_store  # noqa: E402,F401 - fixtures
