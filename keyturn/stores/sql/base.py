"""What every SQL store class on one database holds: the engine (and so
its one pool), the hot path on that pool, and the store timeout."""

from __future__ import annotations

import contextlib

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from keyturn.stores.sql.engine import is_sqlite
from keyturn.stores.sql.hot import HotPath


class SqlBase:
    def __init__(self, engine: AsyncEngine, hot: HotPath, *, timeout: float = 3.0) -> None:
        self.engine = engine
        self._timeout = timeout
        self._hot = hot
        self._lock_rows = not is_sqlite(engine)  # SQLite's BEGIN IMMEDIATE already serialises
        # One statement needs no transaction around it. On PostgreSQL
        # (asyncpg) autocommit is a client-side flag, so the hot path (read,
        # rotate, revoke) skips BEGIN/COMMIT: one round trip instead of three.
        # MySQL would pay two extra commands to switch, so it keeps BEGIN.
        self._autocommit = (
            engine.execution_options(isolation_level="AUTOCOMMIT")
            if engine.dialect.name == "postgresql" else None
        )

    def _one_statement(self) -> contextlib.AbstractAsyncContextManager[AsyncConnection]:
        """A connection for one self-committing statement."""
        if self._autocommit is not None:
            return self._autocommit.connect()
        return self.engine.begin()

    @property
    def timeout(self) -> float:
        return self._timeout
