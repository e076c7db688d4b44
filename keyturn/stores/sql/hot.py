"""The refresh hot path on SQL, straight on the driver.

One refresh needs one statement: the conditional UPDATE (and a cold cache
adds one SELECT). Through SQLAlchemy's async layer each of those costs a
BEGIN, a cursor, a COMMIT and a pool reset — with aiosqlite, a thread hop
each; with asyncpg, a round trip each. Here a single autocommitted statement
is one hop / one round trip, on the driver connection checked out of the
engine's one pool (``engine.py``): the cold path and the hot path share the
connections, the pool's size and timeout, and its idle ping (a checked-out
connection serves the hot statements of the next few milliseconds: see
``_Pooled``). This is the only SQL implementation of these three
operations; everything else stays on SQLAlchemy. Both statements are
compiled once per dialect from ``schema.py``.

The rotate UPDATE carries a deadline — the wall-clock moment its caller
stops waiting (sent + store timeout) — checked by the database's own clock: a
statement that runs late (the server stalled, a lock held elsewhere) changes
nothing, because its requester was answered 503 and will retry the same
token; committed late it would turn that retry into "reuse". ``rotated_at``,
where the grace window starts, is ``now`` plus the time the statement
waited, by the same clock. ``sent`` and the deadline are in the database's
time: our clock plus the offset measured to it (``keyturn.stores.clocks``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.util import await_, greenlet_spawn

from keyturn.core.sessions import Session
from keyturn.stores.protocols import Rotated
from keyturn.stores.sql.schema import (
    judged_session_from_row,
    owners_grants,
    sessions,
    sessions_with_credentials,
    under_current_credentials,
)

T = TypeVar("T")
_S = sessions.c


class HotPath(Protocol):
    async def get_session(self, session_id: str) -> Session | None: ...

    async def rotate(
        self, session_id: str, expected_generation: int, now: float, idle_expires_at: float,
        ip: str | None, user_agent: str | None, *, user_id: str | None = None, to_generation: int,
        sent: float, deadline: float,
    ) -> Rotated | None: ...

    async def any_denied(self, keys: Sequence[str], now: float) -> bool: ...

    async def ping(self) -> None: ...

    async def server_time(self) -> float:
        """The database's clock, epoch seconds (the clock the deadline is checked by)."""
        ...

    async def close(self) -> None: ...


class Statement:
    """A statement compiled once for one dialect, and the order its named
    parameters take in the driver's positional arguments."""

    def __init__(self, statement: sa.ClauseElement, dialect: sa.Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        self.sql = compiled.string
        self.order = tuple(compiled.positiontup or ())

    def args(self, **values: Any) -> tuple[Any, ...]:
        return tuple(values[name] for name in self.order)


def _get_statement(dialect: sa.Dialect) -> Statement:
    """A session and its user's current credential version, in one read."""
    return Statement(sessions_with_credentials().where(_S.id == sa.bindparam("id", type_=sa.String)), dialect)


def _rotate_statement(dialect: sa.Dialect, clock: str, greatest: str, returning: bool = True) -> Statement:
    """The conditional rotate UPDATE; ``clock`` is the database's own clock in
    epoch seconds when the statement runs, ``greatest`` its two-argument max.
    With ``returning`` (PostgreSQL, SQLite) it also returns the user's claims
    and scope (``kt_credentials.grants``), so a refresh reads them in the
    same statement; MySQL/MariaDB has no UPDATE … RETURNING (``MysqlHotPath``)."""
    now = sa.bindparam("now", type_=sa.Double)
    owner = sa.bindparam("owner", type_=sa.String)
    db_clock = sa.literal_column(clock, type_=sa.Double)
    waited = getattr(sa.func, greatest)(sa.literal_column("0"), db_clock - sa.bindparam("sent", type_=sa.Double))
    statement = (
        sessions.update()
        .where(
            _S.id == sa.bindparam("id", type_=sa.String),
            _S.generation == sa.bindparam("generation", type_=sa.BigInteger),
            _S.revoked_at.is_(None),
            _S.idle_expires_at > now,
            sa.or_(owner.is_(None), _S.user_id == owner),  # the optional owner hint of the SessionStore protocol
            db_clock <= sa.bindparam("deadline", type_=sa.Double),  # the deadline: see the module docstring
            # A session born under an older credential version never
            # rotates, checked in the same statement (one round trip).
            under_current_credentials(),
        )
        .values(
            generation=sa.bindparam("to", type_=sa.BigInteger), rotated_at=now + waited, last_used_at=now,
            idle_expires_at=sa.bindparam("idle", type_=sa.Double), last_ip=sa.bindparam("ip", type_=sa.String),
            last_user_agent=sa.bindparam("ua", type_=sa.String),
        )
    )
    if returning:
        return Statement(statement.returning(owners_grants()), dialect)
    return Statement(statement, dialect)


class _Pooled:
    """Driver connections checked out of the engine's pool for one
    autocommitted statement each. No reset on return (the pool has none, see
    ``make_engine``): these statements leave no transaction open, and a
    connection whose statement failed or was cancelled is discarded.

    A checkout through SQLAlchemy's pool costs more CPU than the statement's
    own driver call (a greenlet switch and its events), so a connection
    checked out for a hot statement is leased: for ``LEASE`` seconds the
    next hot statements reuse it straight away. A lease goes back to the
    pool when its statement ends after that, and an idle one at the latest
    ``LEASE`` seconds after it went idle, so a cold call queued in the pool
    waits that long at most; the pool still counts every connection, pings
    those that sat idle and times out its waiters as before."""

    _CLOCK = ""
    _GREATEST = "greatest"
    _RETURNING = True
    LEASE = 0.005

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine.sync_engine
        dialect = engine.dialect
        self._get_session = _get_statement(dialect)
        self._rotate = _rotate_statement(dialect, self._CLOCK, self._GREATEST, self._RETURNING)
        self._idle: list[tuple[Any, float]] = []  # leased connections between statements, and when each was checked out
        self._expiry: asyncio.TimerHandle | None = None
        self._closed = False

    async def _on(self, op: Callable[[Any], Awaitable[T]]) -> T:
        # Out of the idle list while in use: a call abandoned by the store
        # guard keeps its connection until its statement ends.
        fairy, since = self._idle.pop() if self._idle else await greenlet_spawn(self._checkout)
        try:
            result = await op(fairy.driver_connection)
        except BaseException:
            fairy.invalidate()  # failed or cancelled mid-statement: its state is unknown
            fairy.close()
            raise
        self._release(fairy, since)
        return result

    def _checkout(self) -> tuple[Any, float]:
        return self._engine.raw_connection(), time.monotonic()

    def _release(self, fairy: Any, since: float) -> None:
        if self._closed or time.monotonic() - since >= self.LEASE:
            fairy.close()  # back to the pool
            return
        self._idle.append((fairy, since))
        if self._expiry is None:
            self._expiry = asyncio.get_running_loop().call_later(self.LEASE, self._give_back)

    def _give_back(self) -> None:
        """Every idle lease back to the pool."""
        self._expiry = None
        idle, self._idle = self._idle, []
        for fairy, _ in idle:
            fairy.close()

    def _rotate_args(
        self, session_id: str, expected_generation: int, now: float, idle_expires_at: float,
        ip: str | None, user_agent: str | None, user_id: str | None, to_generation: int, sent: float, deadline: float,
    ) -> tuple[Any, ...]:
        return self._rotate.args(
            id=session_id, generation=expected_generation, now=now, idle=idle_expires_at, ip=ip, ua=user_agent,
            owner=user_id, to=to_generation, sent=sent, deadline=deadline,
        )

    async def close(self) -> None:
        """Idle leases go back to the pool, which is closed with the engine;
        a statement still running gives its connection back when it ends."""
        self._closed = True
        if self._expiry is not None:
            self._expiry.cancel()
        self._give_back()


class SqliteHotPath(_Pooled):
    """aiosqlite in autocommit mode (``make_engine``): a single UPDATE is
    atomic in SQLite, so no explicit transaction is needed.

    The pool holds SQLite's one connection. Concurrent hot statements share
    one checkout of it (a lease): aiosqlite runs them one after another on
    its thread, queued without a round of the event loop each, as on a
    connection of their own. A lease takes new statements for ``LEASE``
    seconds only and goes back to the pool when its last one ends, so the
    cold path, queued in the pool meanwhile, waits at most that long (plus
    the statements already sent) and goes first."""

    _CLOCK = "((julianday('now') - 2440587.5) * 86400.0)"  # SQLite's own clock, epoch seconds
    _GREATEST = "max"

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        self._lease: Any = None  # the checked-out connection (SQLAlchemy's proxy)
        self._since = 0.0
        self._users = 0
        self._checking_out = False
        self._changed = asyncio.Event()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _on(self, op: Callable[[Any], Awaitable[T]]) -> T:
        conn = await self._join()
        try:
            return await op(conn)
        finally:
            self._leave()  # synchronous: a cancelled statement still leaves

    async def _join(self) -> Any:
        while True:
            if self._lease is not None:
                if time.monotonic() - self._since < self.LEASE:
                    self._users += 1
                    return self._lease.driver_connection
            elif not self._checking_out:
                break
            await self._changed.wait()  # the lease drains, or a checkout ends
        self._checking_out = True
        try:
            lease = await greenlet_spawn(self._engine.raw_connection)
        except BaseException:
            self._checking_out = False
            self._wake()  # a waiter tries its own checkout
            raise
        self._checking_out = False
        self._lease, self._since, self._users = lease, time.monotonic(), 1
        self._wake()
        return lease.driver_connection

    def _leave(self) -> None:
        self._users -= 1
        if self._users == 0:
            lease, self._lease = self._lease, None
            # Back to the pool first: a cold checkout waiting there is woken
            # before the hot statements waiting here.
            lease.close()
            self._wake()

    async def get_session(self, session_id: str) -> Session | None:
        # Execute, fetch and close in one call: a cursor left open across an
        # await would hold a read snapshot that a later UPDATE on this
        # connection could not upgrade (SQLITE_BUSY_SNAPSHOT, no retry).
        rows = await self._on(lambda conn: conn.execute_fetchall(self._get_session.sql, self._get_session.args(id=session_id)))
        return judged_session_from_row(rows[0]) if rows else None

    async def rotate(
        self, session_id: str, expected_generation: int, now: float, idle_expires_at: float,
        ip: str | None, user_agent: str | None, *, user_id: str | None = None, to_generation: int,
        sent: float, deadline: float,
    ) -> Rotated | None:
        args = self._rotate_args(
            session_id, expected_generation, now, idle_expires_at, ip, user_agent, user_id, to_generation, sent, deadline
        )

        rows = await self._on(lambda conn: conn.execute_fetchall(self._rotate.sql, args))
        return Rotated(rows[0][0]) if rows else None

    async def any_denied(self, keys: Sequence[str], now: float) -> bool:
        """The access-token denylist check (``kt_denylist``, migration 0003)."""
        marks = ",".join("?" * len(keys))
        sql = f"SELECT 1 FROM kt_denylist WHERE key IN ({marks}) AND expires_at > ? LIMIT 1"
        return bool(await self._on(lambda conn: conn.execute_fetchall(sql, (*keys, now))))

    async def ping(self) -> None:
        await self._on(lambda conn: conn.execute_fetchall("SELECT 1"))

    async def server_time(self) -> float:
        rows = await self._on(lambda conn: conn.execute_fetchall(f"SELECT {self._CLOCK}"))
        return float(rows[0][0])


class PostgresHotPath(_Pooled):
    """asyncpg: statements are prepared once per connection (its cache)."""

    # clock_timestamp(), not now(): the time the row is (re)checked, also
    # after waiting for another transaction's lock.
    _CLOCK = "extract(epoch from clock_timestamp())::float8"

    async def get_session(self, session_id: str) -> Session | None:
        row = await self._on(lambda conn: conn.fetchrow(self._get_session.sql, *self._get_session.args(id=session_id)))
        return judged_session_from_row(row) if row else None

    async def rotate(
        self, session_id: str, expected_generation: int, now: float, idle_expires_at: float,
        ip: str | None, user_agent: str | None, *, user_id: str | None = None, to_generation: int,
        sent: float, deadline: float,
    ) -> Rotated | None:
        args = self._rotate_args(
            session_id, expected_generation, now, idle_expires_at, ip, user_agent, user_id, to_generation, sent, deadline
        )
        row = await self._on(lambda conn: conn.fetchrow(self._rotate.sql, *args))
        return None if row is None else Rotated(row[0])

    async def any_denied(self, keys: Sequence[str], now: float) -> bool:
        """The access-token denylist check (``kt_denylist``, migration 0003)."""
        sql = "SELECT 1 FROM kt_denylist WHERE key = ANY($1::text[]) AND expires_at > $2 LIMIT 1"
        return await self._on(lambda conn: conn.fetchrow(sql, list(keys), now)) is not None

    async def ping(self) -> None:
        await self._on(lambda conn: conn.fetchval("SELECT 1"))

    async def server_time(self) -> float:
        return float(await self._on(lambda conn: conn.fetchval(f"SELECT {self._CLOCK}")))


class MysqlHotPath(_Pooled):
    """asyncmy with autocommit on (``make_engine``): the conditional UPDATE
    is one round trip (through SQLAlchemy it is UPDATE, COMMIT and the pool's
    ROLLBACK).

    MySQL/MariaDB have no UPDATE … RETURNING, so the rotate sends the UPDATE
    and a SELECT of the user's claims and scope as one multi-statement query
    (``make_engine`` allows them on MySQL connections; every statement is
    parameterised): still one round trip, and the SELECT, a primary-key
    lookup, runs only once the UPDATE has committed."""

    _CLOCK = "UNIX_TIMESTAMP(NOW(6))"  # the server's clock when the statement runs
    _RETURNING = False
    _GRANTS = (
        "; SELECT c.grants FROM kt_credentials c JOIN kt_sessions s ON c.user_id = s.user_id WHERE s.id = %s"
    )

    async def _run(self, sql: str, args: tuple[Any, ...]) -> tuple[int, Any]:
        async def run(conn: Any) -> tuple[int, Any]:
            async with conn.cursor() as cur:
                await cur.execute(sql, args)
                return int(cur.rowcount), await cur.fetchone()

        return await self._on(run)

    async def get_session(self, session_id: str) -> Session | None:
        _, row = await self._run(self._get_session.sql, self._get_session.args(id=session_id))
        return judged_session_from_row(row) if row else None

    async def rotate(
        self, session_id: str, expected_generation: int, now: float, idle_expires_at: float,
        ip: str | None, user_agent: str | None, *, user_id: str | None = None, to_generation: int,
        sent: float, deadline: float,
    ) -> Rotated | None:
        args = self._rotate_args(
            session_id, expected_generation, now, idle_expires_at, ip, user_agent, user_id, to_generation, sent, deadline
        )

        async def run(conn: Any) -> tuple[int, Any]:
            async with conn.cursor() as cur:
                await cur.execute(self._rotate.sql + self._GRANTS, (*args, session_id))
                count = int(cur.rowcount)
                await cur.nextset()  # always read: the connection goes back with no result pending
                return count, await cur.fetchone()

        count, row = await self._on(run)
        return Rotated(row[0] if row else None) if count == 1 else None

    async def any_denied(self, keys: Sequence[str], now: float) -> bool:
        """The access-token denylist check (``kt_denylist``, migration 0003)."""
        marks = ",".join(["%s"] * len(keys))
        _, row = await self._run(
            f"SELECT 1 FROM kt_denylist WHERE `key` IN ({marks}) AND expires_at > %s LIMIT 1", (*keys, now)
        )
        return row is not None

    async def ping(self) -> None:
        await self._run("SELECT 1", ())

    async def server_time(self) -> float:
        _, row = await self._run(f"SELECT {self._CLOCK}", ())
        return float(row[0])


_BY_DIALECT: dict[str, Callable[[AsyncEngine], HotPath]] = {
    "sqlite": SqliteHotPath, "postgresql": PostgresHotPath, "mysql": MysqlHotPath,
}


def hot_path_for(engine: AsyncEngine) -> HotPath:
    """The hot path on ``engine``'s pool; the URL was checked against the
    scheme table (``keyturn.store_urls``) before the engine was made."""
    return _BY_DIALECT[engine.dialect.name](engine)
