"""SQL engines: plain URLs in, the async driver of the scheme table
(``keyturn.store_urls``) out, migrations applied.

One engine, and so one connection pool, per database per process: the cold
path goes through SQLAlchemy, the hot path (``hot.py``) checks the same
pool's driver connections out directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError, TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from keyturn.errors import StoreUnavailable
from keyturn.stores.guard import bounded
from keyturn.store_urls import async_url, scheme_of, sqlite_path

P = ParamSpec("P")
T = TypeVar("T")

__all__ = ["async_url", "guarded", "is_sqlite", "make_engine", "upgrade"]


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str, *, pool_size: int = 10, pool_timeout: float = 2.0, connect_timeout: float = 3.0) -> AsyncEngine:
    """The database's one engine. No reset on return: SQLAlchemy's own
    connections end their transactions before they go back, and the hot
    path's statements leave none open (a ROLLBACK per checkout would be a
    round trip, or a thread hop, on every refresh)."""
    full = async_url(url)
    scheme = scheme_of(full)
    assert scheme is not None  # async_url refuses every URL outside the table
    if scheme.family == "sqlite":
        path = sqlite_path(full)
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
            pool_reset_on_return=None, connect_args={"timeout": 10},
        )
        _sqlite_pragmas(engine)
        return engine
    connect_args: dict[str, Any] = {}
    if scheme.hot_path and scheme.family == "postgresql":  # asyncpg
        connect_args = {"timeout": connect_timeout, "command_timeout": max(connect_timeout, 5.0)}
    elif scheme.hot_path and scheme.family == "mysql":  # asyncmy
        # Autocommit, so the hot path's single statements are one round
        # trip; SQLAlchemy's transactions begin explicitly (below).
        # Multi-statement queries: the hot path's rotate returns the user's
        # claims with a second statement in the same round trip (MySQL has
        # no UPDATE … RETURNING; ``hot.MysqlHotPath``). Every query keyturn
        # sends is parameterised.
        from asyncmy.constants import CLIENT

        connect_args = {
            "connect_timeout": int(max(1, connect_timeout)), "autocommit": True,
            "client_flag": CLIENT.FOUND_ROWS | CLIENT.MULTI_STATEMENTS,
        }
    engine = create_async_engine(
        full,
        pool_size=pool_size,
        max_overflow=0,  # pool_size is every connection this process opens to the database
        pool_timeout=pool_timeout,
        pool_recycle=1800,
        pool_reset_on_return=None,
        connect_args=connect_args,
    )
    if engine.dialect.name == "mysql":
        _explicit_mysql_transactions(engine)
        _quiet_primary_key_note()
    _ping_idle_connections(engine)
    return engine


def _drop_primary_key_note(record: logging.LogRecord) -> bool:
    return "ignored for PRIMARY key" not in record.getMessage()


def _quiet_primary_key_note() -> None:
    """MariaDB notes that a PRIMARY KEY's name is ignored when Alembic makes
    its version table (it names every constraint); asyncmy logs each note
    as a warning. Nothing to act on, so it is not logged."""
    driver_log = logging.getLogger("asyncmy")
    if _drop_primary_key_note not in driver_log.filters:
        driver_log.addFilter(_drop_primary_key_note)


def _explicit_mysql_transactions(engine: AsyncEngine) -> None:
    """The driver connections autocommit; SQLAlchemy's transactions start
    with BEGIN and end with its COMMIT or ROLLBACK."""

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN")


def private_sqlite_file(path: str) -> None:
    """Create the SQLite database owner-only (0600) before SQLite opens it:
    SQLite gives the -wal and -shm files the database's mode, so all three
    are private. An existing database readable by others is tightened."""
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(file, os.O_WRONLY | os.O_CREAT, 0o600))
    for each in (file, file.with_name(file.name + "-wal"), file.with_name(file.name + "-shm")):
        try:
            if each.stat().st_mode & 0o077:
                each.chmod(0o600)
        except FileNotFoundError:
            continue


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


def driver_unavailable_errors() -> tuple[type[BaseException], ...]:
    """Driver exceptions that mean "the database is not reachable"."""
    errors: list[type[BaseException]] = [sqlite3.OperationalError]
    try:
        import asyncpg

        errors += [asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.CannotConnectNowError,
                   asyncpg.TooManyConnectionsError]
    except ImportError:  # pragma: no cover - asyncpg is a dependency
        pass
    try:
        from asyncmy import errors as my

        errors += [my.OperationalError, my.InterfaceError]
    except ImportError:  # pragma: no cover - asyncmy is a dependency
        pass
    return tuple(errors)


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


def _deadlocked(exc: BaseException) -> bool:
    """A deadlock anywhere in the chain: on MySQL the victim's whole
    transaction is rolled back, so the ``ROLLBACK TO SAVEPOINT`` that
    SQLAlchemy runs on its way out fails ("SAVEPOINT does not exist") with
    the deadlock as its context. Either way the transaction is gone and the
    call may run again."""
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            return False
        if isinstance(seen, DBAPIError) and _is_deadlock(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


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
                    if attempt == _RETRIES - 1 or not _deadlocked(exc):
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
