"""SQL engines: plain URLs in, the right async driver out, migrations applied.

``sqlite:///path`` → aiosqlite, ``postgresql://`` → asyncpg,
``mysql://`` / ``mariadb://`` → asyncmy.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError, TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from keyturn.errors import StoreUnavailable
from keyturn.stores.guard import bounded
from keyturn.stores.sql.hot import driver_unavailable_errors, private_sqlite_file

_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "mysql": "mysql+asyncmy",
    "mariadb": "mysql+asyncmy",
}

P = ParamSpec("P")
T = TypeVar("T")


def async_url(url: str) -> str:
    """Choose the async driver for a plain URL; explicit drivers are kept."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"not a database URL: {url!r}")
    if "+" in scheme:
        return url
    driver = _DRIVERS.get(scheme.lower())
    if driver is None:
        raise ValueError(f"unsupported database URL scheme {scheme!r}")
    if driver.startswith("mysql") and "charset=" not in rest:
        rest += ("&" if "?" in rest else "?") + "charset=utf8mb4"
    return f"{driver}://{rest}"


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str, *, pool_size: int = 10, pool_timeout: float = 2.0, connect_timeout: float = 3.0) -> AsyncEngine:
    full = async_url(url)
    if full.startswith("sqlite"):
        path = full.split(":///", 1)[1].split("?", 1)[0] if ":///" in full else ""
        if path and path != ":memory:":
            try:
                private_sqlite_file(path)
            except OSError:
                # A directory we may not write: SQLite's own open fails the
                # same way at start, where the store is named and explained.
                pass
        # One connection per process: SQLite has one writer anyway, and a
        # single connection never meets "database is locked" from itself.
        engine = create_async_engine(
            full, pool_size=1, max_overflow=0, pool_timeout=max(pool_timeout, 10.0),
            connect_args={"timeout": 10},
        )
        _sqlite_pragmas(engine)
        return engine
    connect_args: dict[str, Any] = {}
    if full.startswith("postgresql+asyncpg"):
        connect_args = {"timeout": connect_timeout, "command_timeout": max(connect_timeout, 5.0)}
    elif full.startswith("mysql+asyncmy"):
        connect_args = {"connect_timeout": int(max(1, connect_timeout))}
    engine = create_async_engine(
        full,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=pool_timeout,
        pool_recycle=1800,
        connect_args=connect_args,
    )
    _ping_idle_connections(engine)
    return engine


IDLE_PING_AFTER = 1.0  # seconds a pooled connection may idle before a checkout pings it


def _ping_idle_connections(engine: AsyncEngine) -> None:
    """``pool_pre_ping`` costs a round trip on every checkout; a busy pool
    does not need it. Ping only connections that sat idle, so a restarted
    database is noticed before a request uses a dead connection, while the
    hot path stays at one round trip."""
    sync_engine = engine.sync_engine
    dialect = sync_engine.dialect

    @event.listens_for(sync_engine, "checkin")
    def _on_checkin(dbapi_conn: Any, record: Any) -> None:
        record.info["kt_idle_since"] = time.monotonic()

    @event.listens_for(sync_engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        since = record.info.get("kt_idle_since")
        if since is None or time.monotonic() - since < IDLE_PING_AFTER:
            return
        try:
            dialect.do_ping(dbapi_conn)
        except Exception as exc:  # any failure: let the pool reconnect
            raise DisconnectionError() from exc


def _sqlite_pragmas(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Drive transactions ourselves (below): pysqlite's implicit BEGIN is
        # deferred, which can deadlock a read-then-write across processes.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OperationalError, InterfaceError, PoolTimeout, OSError, asyncio.TimeoutError, ConnectionError,
    *driver_unavailable_errors(),
)


def _connection_lost_errors() -> tuple[type[BaseException], ...]:
    """Driver exceptions of a connection that died under the pool."""
    errors: list[type[BaseException]] = [InterfaceError, ConnectionResetError, BrokenPipeError]
    with contextlib.suppress(ImportError):
        import asyncpg

        errors += [asyncpg.ConnectionDoesNotExistError, asyncpg.InterfaceError]
    with contextlib.suppress(ImportError):
        from asyncmy import errors as my

        errors += [my.InterfaceError]
    return tuple(errors)


_CONNECTION_LOST = _connection_lost_errors()


_RETRIES = 5
_DEADLOCK_MYSQL = (1213, 1205)  # ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT
_DEADLOCK_PG = ("40P01", "40001")  # deadlock_detected, serialization_failure


def _is_deadlock(exc: DBAPIError) -> bool:
    orig = exc.orig
    for err in (orig, getattr(orig, "__cause__", None)):
        if getattr(err, "sqlstate", None) in _DEADLOCK_PG:
            return True
    args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
    return bool(args) and args[0] in _DEADLOCK_MYSQL


def _connection_lost(exc: BaseException) -> bool:
    """A pooled connection that died with its server (a restart): worth one
    retry on a fresh connection."""
    if isinstance(exc, DBAPIError):
        return bool(exc.connection_invalidated)
    return isinstance(exc, _CONNECTION_LOST)


def guarded(
    timeout_attr: str = "_timeout",
) -> Callable[[Callable[P, Coroutine[Any, Any, T]]], Callable[P, Coroutine[Any, Any, T]]]:
    """Bound a store call in time and turn every driver failure into
    ``StoreUnavailable`` (503, fail closed); see ``keyturn.stores.guard``."""

    def wrap(fn: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
        async def with_deadlock_retries(*args: P.args, **kwargs: P.kwargs) -> T:
            for attempt in range(_RETRIES):
                try:
                    return await fn(*args, **kwargs)
                except DBAPIError as exc:
                    # A deadlock victim was rolled back whole: run it again.
                    if attempt == _RETRIES - 1 or not _is_deadlock(exc):
                        raise
            raise AssertionError("unreachable")  # pragma: no cover

        @functools.wraps(fn)
        async def inner(*args: P.args, **kwargs: P.kwargs) -> T:
            return await bounded(
                lambda: with_deadlock_retries(*args, **kwargs),
                store=type(args[0]).__name__, timeout=getattr(args[0], timeout_attr, 5.0),
                faults=_UNAVAILABLE, connection_lost=_connection_lost,
            )

        return inner

    return wrap


async def upgrade(engine: AsyncEngine) -> None:
    """Apply Alembic migrations to head, one replica at a time."""
    from keyturn.stores.sql.migrations import run_upgrade

    async with _migration_lock(engine) as conn:
        await conn.run_sync(run_upgrade)


@contextlib.asynccontextmanager
async def _migration_lock(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        name = engine.dialect.name
        if name == "postgresql":
            await conn.execute(sa.text("SELECT pg_advisory_lock(727274)"))
        elif name == "mysql":
            await conn.execute(sa.text("SELECT GET_LOCK('keyturn_migrate', 60)"))
        await conn.commit()
        try:
            yield conn
            await conn.commit()
        finally:
            if name == "postgresql":
                await conn.execute(sa.text("SELECT pg_advisory_unlock(727274)"))
            elif name == "mysql":
                await conn.execute(sa.text("SELECT RELEASE_LOCK('keyturn_migrate')"))
            await conn.commit()
