"""The refresh hot path on SQL, straight on the driver.

One refresh needs one statement: the conditional UPDATE (and a cold cache
adds one SELECT). Through SQLAlchemy's async layer each of those costs a
BEGIN, a cursor, a COMMIT and a pool reset — with aiosqlite, a thread hop
each; with asyncpg, a round trip each. Here a single autocommitted statement
is one hop / one round trip, on a prepared statement. This is the only SQL
implementation of these three operations; everything else stays on
SQLAlchemy (``store.py``). Column lists and the row mapper come from
``schema.py``.

The rotate UPDATE carries a deadline — the wall-clock moment its caller
stops waiting (sent + store timeout) — checked by the database's own clock: a
statement that runs late (the server stalled, a lock held elsewhere) changes
nothing, because its requester was answered 503 and will retry the same
token; committed late it would turn that retry into "reuse". ``rotated_at``,
where the grace window starts, is ``now`` plus the time the statement
waited, by the same clock. The clocks of the service's and the database's
hosts must agree to well within the store timeout (NTP does).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path
from collections.abc import Sequence
from typing import Any, Protocol

from keyturn.core.sessions import Session
from keyturn.errors import ConfigError
from keyturn.stores.sql.schema import CREDENTIAL_SELECT, SESSION_SELECT, judged_session_from_row

# A session and its user's current credential version, in one read.
_COLUMNS = f"{SESSION_SELECT}, {CREDENTIAL_SELECT}"
# In the rotate UPDATE's WHERE: a session born under an older credential
# version never rotates, checked in the same statement (one round trip).
_CURRENT = (
    " AND credential_version = COALESCE((SELECT version FROM kt_credentials c WHERE c.user_id = kt_sessions.user_id), 0)"
)


class HotPath(Protocol):
    async def get_session(self, session_id: str) -> Session | None: ...

    async def rotate(
        self, session_id: str, expected_generation: int, now: float, idle_expires_at: float,
        ip: str | None, user_agent: str | None, *, user_id: str | None = None, to_generation: int,
        sent: float, deadline: float,
    ) -> bool: ...

    async def any_denied(self, keys: Sequence[str], now: float) -> bool: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class _Lazy:
    """A driver resource (connection or pool) opened on first use, inside the
    running event loop, exactly once however many requests race for it."""

    def __init__(self) -> None:
        self._res: Any = None
        self._lock = asyncio.Lock()

    async def _open(self) -> Any:
        raise NotImplementedError

    async def _get(self) -> Any:
        if self._res is None:
            async with self._lock:
                if self._res is None:
                    self._res = await self._open()
        return self._res

    def _take(self) -> Any:
        """Hand the resource over for closing (``None`` if never opened)."""
        res, self._res = self._res, None
        return res


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


class SqliteHotPath(_Lazy):
    """One dedicated aiosqlite connection in autocommit mode: a single
    UPDATE is atomic in SQLite, so no explicit transaction is needed."""

    _GET = f"SELECT {_COLUMNS} FROM kt_sessions WHERE id = ?"
    _CLOCK = "((julianday('now') - 2440587.5) * 86400.0)"  # SQLite's own clock, epoch seconds
    _ROTATE = (
        f"UPDATE kt_sessions SET generation = ?, rotated_at = ? + MAX(0, {_CLOCK} - ?), last_used_at = ?, "
        "idle_expires_at = ?, last_ip = ?, last_user_agent = ? "
        "WHERE id = ? AND generation = ? AND revoked_at IS NULL AND idle_expires_at > ? "
        "AND (? IS NULL OR user_id = ?)"  # the optional owner hint of the SessionStore protocol
        f" AND {_CLOCK} <= ?"  # the deadline: see the module docstring
        + _CURRENT
    )

    def __init__(self, path: str) -> None:
        super().__init__()
        self._path = path

    async def _open(self) -> Any:
        import aiosqlite

        private_sqlite_file(self._path)
        conn = await aiosqlite.connect(self._path, isolation_level=None, timeout=10)
        await conn.execute("PRAGMA busy_timeout=10000")
        await conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    async def get_session(self, session_id: str) -> Session | None:
        conn = await self._get()
        # Execute, fetch and close in one call: a cursor left open across an
        # await would hold a read snapshot that a later UPDATE on this
        # connection could not upgrade (SQLITE_BUSY_SNAPSHOT, no retry).
        rows = await conn.execute_fetchall(self._GET, (session_id,))
        return judged_session_from_row(rows[0]) if rows else None

    async def rotate(
        self, session_id: str, expected_generation: int, now: float, idle_expires_at: float,
        ip: str | None, user_agent: str | None, *, user_id: str | None = None, to_generation: int,
        sent: float, deadline: float,
    ) -> bool:
        conn = await self._get()
        cur = await conn.execute(
            self._ROTATE,
            (to_generation, now, sent, now, idle_expires_at, ip, user_agent, session_id, expected_generation, now,
             user_id, user_id, deadline),
        )
        return bool(cur.rowcount == 1)

    async def any_denied(self, keys: Sequence[str], now: float) -> bool:
        """The access-token denylist check (``kt_denylist``, migration 0003)."""
        conn = await self._get()
        marks = ",".join("?" * len(keys))
        rows = await conn.execute_fetchall(
            f"SELECT 1 FROM kt_denylist WHERE key IN ({marks}) AND expires_at > ? LIMIT 1", (*keys, now)
        )
        return bool(rows)

    async def ping(self) -> None:
        conn = await self._get()
        await conn.execute_fetchall("SELECT 1")

    async def close(self) -> None:
        conn = self._take()
        if conn is not None:
            await conn.close()


class PostgresHotPath(_Lazy):
    """An asyncpg pool; statements are prepared once per connection."""

    _GET = f"SELECT {_COLUMNS} FROM kt_sessions WHERE id = $1"
    # clock_timestamp(), not now(): the time the row is (re)checked, also
    # after waiting for another transaction's lock.
    _CLOCK = "extract(epoch from clock_timestamp())::float8"
    _ROTATE = (
        f"UPDATE kt_sessions SET generation = $1, rotated_at = $2 + GREATEST(0, {_CLOCK} - $9::float8), "
        "last_used_at = $2, idle_expires_at = $3, last_ip = $4, last_user_agent = $5 "
        "WHERE id = $6 AND generation = $7 AND revoked_at IS NULL AND idle_expires_at > $2 "
        "AND ($8::varchar IS NULL OR user_id = $8)"  # the optional owner hint of the SessionStore protocol
        f" AND {_CLOCK} <= $10::float8"  # the deadline: see the module docstring
        + _CURRENT
    )

    def __init__(self, dsn: str, *, pool_size: int, timeout: float) -> None:
        super().__init__()
        self._dsn = dsn
        self._size = pool_size
        self._timeout = timeout

    async def _open(self) -> Any:
        import asyncpg

        return await asyncpg.create_pool(
            self._dsn, min_size=1, max_size=self._size, timeout=self._timeout,
            command_timeout=max(self._timeout, 5.0), reset=_reset_if_in_transaction,
        )

    async def get_session(self, session_id: str) -> Session | None:
        pool = await self._get()
        async with pool.acquire(timeout=self._timeout) as conn:
            row = await conn.fetchrow(self._GET, session_id)
        return judged_session_from_row(row) if row else None

    async def rotate(
        self, session_id: str, expected_generation: int, now: float, idle_expires_at: float,
        ip: str | None, user_agent: str | None, *, user_id: str | None = None, to_generation: int,
        sent: float, deadline: float,
    ) -> bool:
        pool = await self._get()
        async with pool.acquire(timeout=self._timeout) as conn:
            status = await conn.execute(
                self._ROTATE, to_generation, now, idle_expires_at, ip, user_agent,
                session_id, expected_generation, user_id, sent, deadline,
            )
        return bool(status == "UPDATE 1")

    async def any_denied(self, keys: Sequence[str], now: float) -> bool:
        """The access-token denylist check (``kt_denylist``, migration 0003)."""
        pool = await self._get()
        async with pool.acquire(timeout=self._timeout) as conn:
            row = await conn.fetchrow(
                "SELECT 1 FROM kt_denylist WHERE key = ANY($1::text[]) AND expires_at > $2 LIMIT 1", list(keys), now
            )
        return row is not None

    async def ping(self) -> None:
        pool = await self._get()
        async with pool.acquire(timeout=self._timeout) as conn:
            await conn.fetchval("SELECT 1")

    async def close(self) -> None:
        pool = self._take()
        if pool is not None:
            await pool.close()


class MysqlHotPath(_Lazy):
    """An asyncmy pool in autocommit mode: the conditional UPDATE is one round
    trip (through SQLAlchemy it is UPDATE, COMMIT and the pool's ROLLBACK)."""

    _GET = f"SELECT {_COLUMNS} FROM kt_sessions WHERE id = %s"
    _CLOCK = "UNIX_TIMESTAMP(NOW(6))"  # the server's clock when the statement runs
    _ROTATE = (
        f"UPDATE kt_sessions SET generation = %s, rotated_at = %s + GREATEST(0, {_CLOCK} - %s), "
        "last_used_at = %s, idle_expires_at = %s, last_ip = %s, last_user_agent = %s "
        "WHERE id = %s AND generation = %s AND revoked_at IS NULL AND idle_expires_at > %s "
        "AND (%s IS NULL OR user_id = %s)"  # the optional owner hint of the SessionStore protocol
        f" AND {_CLOCK} <= %s"  # the deadline: see the module docstring
        + _CURRENT
    )

    def __init__(self, url: str, *, pool_size: int, timeout: float) -> None:
        from urllib.parse import unquote, urlsplit

        super().__init__()
        parts = urlsplit(url)
        self._connect = {
            "host": parts.hostname or "127.0.0.1", "port": parts.port or 3306,
            "user": unquote(parts.username or "root"), "password": unquote(parts.password or ""),
            "db": parts.path.lstrip("/") or None, "charset": "utf8mb4", "autocommit": True,
            "connect_timeout": max(1, int(timeout)),
        }
        self._size = pool_size

    async def _open(self) -> Any:
        import asyncmy

        return await asyncmy.create_pool(minsize=1, maxsize=self._size, pool_recycle=1800, **self._connect)

    async def _run(self, sql: str, args: tuple[Any, ...]) -> tuple[int, Any]:
        pool = await self._get()
        async with pool.acquire() as conn:
            try:
                async with conn.cursor() as cur:
                    await cur.execute(sql, args)
                    return int(cur.rowcount), await cur.fetchone()
            except BaseException:
                # A connection that failed mid-statement is not reused.
                conn.close()
                raise

    async def get_session(self, session_id: str) -> Session | None:
        _, row = await self._run(self._GET, (session_id,))
        return judged_session_from_row(row) if row else None

    async def rotate(
        self, session_id: str, expected_generation: int, now: float, idle_expires_at: float,
        ip: str | None, user_agent: str | None, *, user_id: str | None = None, to_generation: int,
        sent: float, deadline: float,
    ) -> bool:
        count, _ = await self._run(
            self._ROTATE,
            (to_generation, now, sent, now, idle_expires_at, ip, user_agent, session_id, expected_generation, now,
             user_id, user_id, deadline),
        )
        return count == 1

    async def any_denied(self, keys: Sequence[str], now: float) -> bool:
        """The access-token denylist check (``kt_denylist``, migration 0003)."""
        marks = ",".join(["%s"] * len(keys))
        _, row = await self._run(
            f"SELECT 1 FROM kt_denylist WHERE `key` IN ({marks}) AND expires_at > %s LIMIT 1", (*keys, now)
        )
        return row is not None

    async def ping(self) -> None:
        await self._run("SELECT 1", ())

    async def close(self) -> None:
        pool = self._take()
        if pool is not None:
            pool.close()
            await pool.wait_closed()


async def _reset_if_in_transaction(conn: Any) -> None:
    """asyncpg's default reset on release (RESET ALL, UNLISTEN, …) is a round
    trip per statement; these connections only run autocommitted statements
    and change no session state, so only an interrupted transaction needs
    undoing."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


def hot_path_for(url: str, *, pool_size: int, timeout: float, setting: str) -> HotPath:
    """The driver-level hot path for ``url``; a URL it cannot serve (an
    in-memory SQLite, another driver) is refused naming ``setting``."""
    scheme, _, rest = url.partition("://")
    base = scheme.split("+", 1)[0].lower()
    if base == "sqlite":
        path = rest[1:] if rest.startswith("/") else rest
        path = path.split("?", 1)[0]
        if not path or path == ":memory:":
            raise ConfigError(f"{setting}: an in-memory SQLite database cannot be shared; give a file path")
        return SqliteHotPath(path)
    if base in ("postgresql", "postgres") and (scheme.lower() in ("postgresql", "postgres", "postgresql+asyncpg")):
        return PostgresHotPath(f"postgresql://{rest}", pool_size=pool_size, timeout=timeout)
    if base in ("mysql", "mariadb") and scheme.lower() in ("mysql", "mariadb", "mysql+asyncmy"):
        return MysqlHotPath(f"mysql://{rest}", pool_size=pool_size, timeout=timeout)
    raise ConfigError(
        f"{setting}: unsupported database URL scheme {scheme!r} "
        "(use sqlite:///PATH, postgresql://, mysql:// or mariadb://)"
    )


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
