"""The one engine fixture: ``stores`` is a fresh, empty bundle of each engine
(memory, sqlite, postgresql, mariadb, redis, redis-cluster), Starlette-style;
every contract suite takes its store from it (``store`` = sessions,
``security_store``, ``database`` = users/keys/events, ``client_store``,
``revocation_log``). Redis holds sessions and security state only: its
bundle keeps the rest in memory, as a deployment keeps it in SQL."""

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
from keyturn.stores.bundle import Stores
from keyturn.stores.memory import memory_stores
from keyturn.stores.redis.bundle import redis_session_engine_on
from keyturn.stores.redis.sessions import RedisSessionStore, open_client
from keyturn.stores.sql.bundle import sql_stores_on
from keyturn.stores.sql.store import SqlStore
from tests.conftest import SERVER_ENGINES, backend_unavailable, free_port, lane
from tests.stores import backends as b

ENGINES = ["memory", "sqlite", "postgresql", "mariadb", "redis", "redis-cluster"]
SQL_TABLES = (
    "kt_sessions", "kt_users", "kt_signing_keys", "kt_events", "kt_revocations",
    "kt_counters", "kt_denylist", "kt_dpop_jti", "kt_resource_clients",
)
DATABASE_ENGINES = ["memory", "sqlite", "postgresql", "mariadb"]
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
@lane("backend")
def postgres_url() -> Iterator[str]:
    yield from _sql_database(b.POSTGRES_URL, "PostgreSQL")


@pytest.fixture(scope="session")
@lane("backend")
def mysql_url() -> Iterator[str]:
    yield from _sql_database(b.MYSQL_URL, "MySQL/MariaDB")


@pytest.fixture
@lane("backend")
def clean_sql_url(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """``clean_sql_url("postgresql" | "mariadb")``: the run's database, emptied."""

    def get(engine: str) -> str:
        url: str = request.getfixturevalue("postgres_url" if engine == "postgresql" else "mysql_url")
        b.wipe_database(url)
        return url

    return get


@pytest.fixture(scope="session")
@lane("backend")
def redis_url() -> str:
    try:
        redis.Redis.from_url(b.REDIS_URL, socket_timeout=3, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        backend_unavailable(f"Redis at {b.REDIS_URL}: {exc}")
    return b.REDIS_URL


# Started once per run, not per test: its engine's tests stay in the everyday lane.
@pytest.fixture(scope="session")
@lane("backend")
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
@lane("slow", "backend")
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


async def open_stores(engine: str, request: pytest.FixtureRequest, tmp_path: Path) -> Stores:
    """A fresh, empty bundle of ``engine``."""
    if engine == "memory":
        return memory_stores()
    if engine == "sqlite":
        store = SqlStore.from_url(f"sqlite:///{tmp_path}/store.db")
        await store.migrate()
        return sql_stores_on(store)
    if engine in ("postgresql", "mariadb"):
        url = request.getfixturevalue("postgres_url" if engine == "postgresql" else "mysql_url")
        store = SqlStore.from_url(url, pool_size=20, pool_timeout=10)
        await _wipe_sql(store)
        return sql_stores_on(store)
    url = request.getfixturevalue("redis_url" if engine == "redis" else "redis_cluster_url")
    rstore = RedisSessionStore(open_client(url, timeout=5.0), prefix=unique_prefix(), timeout=5.0)
    await rstore.migrate()
    return memory_stores().with_sessions(redis_session_engine_on(rstore))


async def close_stores(stores: Stores) -> None:
    if isinstance(stores.sessions, RedisSessionStore):
        await _wipe_redis(stores.sessions)
    await stores.close()


async def _each(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    s = await open_stores(request.param, request, tmp_path)
    try:
        yield s
    finally:
        await close_stores(s)


ON_SERVERS = {engine: ["backend"] for engine in SERVER_ENGINES}


@pytest.fixture(params=ENGINES)
@lane(params=ON_SERVERS)
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    """A fresh, empty bundle of each engine."""
    async for s in _each(request, tmp_path):
        yield s


@pytest.fixture(params=DATABASE_ENGINES)
@lane(params=ON_SERVERS)
async def database_stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    """A fresh, empty bundle of each engine that can be the database."""
    async for s in _each(request, tmp_path):
        yield s


@pytest.fixture
def store(stores: Stores) -> Any:
    """The session store of each engine."""
    return stores.sessions


@pytest.fixture
def security_store(stores: Stores) -> Any:
    """Counters, denylist and replay cache of each engine."""
    return stores.security


@pytest.fixture
def database(database_stores: Stores) -> Any:
    """Users, keys and events (one object per database engine)."""
    return database_stores.users


@pytest.fixture
def client_store(database_stores: Stores) -> Any:
    """Resource-server clients: the database engines (never Redis)."""
    return database_stores.clients


@pytest.fixture
def revocation_log(database_stores: Stores) -> Any:
    """The revocation feed's log: the database engines."""
    return database_stores.revocations


@pytest.fixture
def make_runtime(
    stores: Stores, clock: FrozenClock, make_settings: Callable[..., Settings]
) -> Callable[..., Any]:
    """A started Runtime (TokenService) on each engine's bundle."""
    master = make_settings().master_key

    async def make(**overrides: Any) -> Runtime:
        settings = make_settings(master_key=master, **overrides)
        rt = build_runtime(settings, clock=clock, stores=stores)
        await rt.start()
        return rt

    return make
