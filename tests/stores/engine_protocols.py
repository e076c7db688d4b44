"""Every engine assigned to every seam it claims: mypy (strict, in CI) fails
here the moment an engine's method drifts from its protocol. Nothing runs."""

from __future__ import annotations

from keyturn.stores.memory import MemoryRevocationLog, MemorySecurityStore, MemoryStore
from keyturn.stores.protocols import (
    EventStore,
    KeyStore,
    Lifecycle,
    ResourceClientStore,
    RevocationLog,
    SecurityState,
    SessionStore,
    UserStore,
)
from keyturn.stores.redis.security import RedisSecurityStore
from keyturn.stores.redis.sessions import RedisSessionStore
from keyturn.stores.sql.events import SqlEvents
from keyturn.stores.sql.hot import HotPath, MysqlHotPath, PostgresHotPath, SqliteHotPath
from keyturn.stores.sql.keys import SqlKeys
from keyturn.stores.sql.revocations import SqlRevocationLog
from keyturn.stores.sql.security import SqlSecurityStore
from keyturn.stores.sql.sessions import SqlSessions
from keyturn.stores.sql.store import SqlStore
from keyturn.stores.sql.users import SqlUsers


def memory(store: MemoryStore, security: MemorySecurityStore, log: MemoryRevocationLog) -> None:
    users: UserStore = store
    sessions: SessionStore = store
    keys: KeyStore = store
    events: EventStore = store
    engine: Lifecycle = store
    state: SecurityState = security
    clients: ResourceClientStore = security
    revocations: RevocationLog = log
    del users, sessions, keys, events, engine, state, clients, revocations


def sql(store: SqlStore, security: SqlSecurityStore, log: SqlRevocationLog) -> None:
    users: UserStore = store
    sessions: SessionStore = store
    keys: KeyStore = store
    events: EventStore = store
    engine: Lifecycle = store
    state: SecurityState = security
    clients: ResourceClientStore = security
    revocations: RevocationLog = log
    del users, sessions, keys, events, engine, state, clients, revocations


def sql_seams(users_: SqlUsers, sessions_: SqlSessions, keys_: SqlKeys, events_: SqlEvents) -> None:
    """Each SQL module on its own satisfies its seam."""
    users: UserStore = users_
    sessions: SessionStore = sessions_
    keys: KeyStore = keys_
    events: EventStore = events_
    del users, sessions, keys, events


def sql_hot_paths(sqlite: SqliteHotPath, postgres: PostgresHotPath, mysql: MysqlHotPath) -> None:
    paths: list[HotPath] = [sqlite, postgres, mysql]
    del paths


def redis(store: RedisSessionStore, security: RedisSecurityStore) -> None:
    sessions: SessionStore = store
    engine: Lifecycle = store
    state: SecurityState = security
    del sessions, engine, state
