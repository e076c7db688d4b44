"""The SQL engine's bundles: one ``SqlStore`` (and its one hot path) per
database URL, with the security state and the revocation log beside it."""

from __future__ import annotations

from keyturn.config import Settings
from keyturn.stores.bundle import SessionEngine, Stores
from keyturn.stores.sql.revocations import SqlRevocationLog
from keyturn.stores.sql.security import SqlSecurityStore
from keyturn.stores.sql.store import SqlStore


def open_sql(settings: Settings, url: str, *, setting: str) -> SqlStore:
    return SqlStore.from_url(
        url, timeout=settings.store_timeout, pool_size=settings.pool_size,
        pool_timeout=settings.pool_timeout, setting=setting,
    )


def sql_stores_on(store: SqlStore) -> Stores:
    """Every store on the database of ``store``."""
    security = store.security_state()
    return Stores(
        users=store, keys=store, events=store, clients=security,
        revocations=SqlRevocationLog(store.engine, timeout=store.timeout),
        sessions=store, security=security, database=store,
    )


def sql_stores(settings: Settings, url: str, *, setting: str) -> Stores:
    return sql_stores_on(open_sql(settings, url, setting=setting))


def sql_session_engine_on(store: SqlStore) -> SessionEngine:
    return SessionEngine(sessions=store, security=store.security_state(), engine=store)


def sql_session_engine(settings: Settings, url: str, *, setting: str) -> SessionEngine:
    return sql_session_engine_on(open_sql(settings, url, setting=setting))


__all__ = ["SqlSecurityStore", "open_sql", "sql_session_engine", "sql_session_engine_on", "sql_stores", "sql_stores_on"]
