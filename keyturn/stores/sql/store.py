"""SQL engine (SQLAlchemy Core, async): SQLite, PostgreSQL, MySQL/MariaDB.

One object serves all four seams (users, sessions, keys, events) because on
SQL they share one database, one engine and one connection pool; each seam
is written in its own module (``users``, ``sessions``, ``keys``, ``events``).
"""

from __future__ import annotations

import sqlalchemy as sa

from keyturn.errors import ConfigError
from keyturn.stores.sql.engine import guarded, make_engine, upgrade
from keyturn.stores.sql.events import SqlEvents
from keyturn.stores.sql.hot import hot_path_for
from keyturn.stores.sql.keys import SqlKeys
from keyturn.stores.sql.security import SqlSecurityStore
from keyturn.stores.sql.sessions import SqlSessions
from keyturn.stores.sql.users import SqlUsers
from keyturn.store_urls import sql_refusal


class SqlStore(SqlUsers, SqlSessions, SqlKeys, SqlEvents):
    """UserStore + SessionStore + KeyStore + EventStore on one SQL database."""

    @classmethod
    def from_url(
        cls, url: str, *, timeout: float = 3.0, pool_size: int = 10, pool_timeout: float = 2.0,
        setting: str = "KEYTURN_DATABASE_URL",
    ) -> SqlStore:
        """``setting`` names where ``url`` came from, for the refusal of a URL
        the hot path cannot serve."""
        refusal = sql_refusal(url, setting)
        if refusal is not None:
            raise ConfigError(refusal)
        engine = make_engine(url, pool_size=pool_size, pool_timeout=pool_timeout, connect_timeout=timeout)
        return cls(engine, hot_path_for(engine), timeout=timeout)

    def security_state(self) -> SqlSecurityStore:
        """The security state on this database, sharing its hot path."""
        return SqlSecurityStore(self.engine, self._hot, timeout=self._timeout)

    async def migrate(self) -> None:
        await upgrade(self.engine)

    @guarded()
    async def ping(self) -> None:
        """The one pool, the way requests use it: a driver connection checked
        out for one statement (the idle ping on checkout included)."""
        await self._hot.ping()

    async def close(self) -> None:
        await self._hot.close()
        await self.engine.dispose()
