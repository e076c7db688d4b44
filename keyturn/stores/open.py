"""Engines by URL scheme: the scheme table (``keyturn.store_urls``) names
a URL's engine, and one table per role maps that engine to the factory of
its typed bundle, so no caller ever asks a store what class it is. Engines
are imported only when their scheme is used (light installs)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from keyturn.config import Settings
from keyturn.errors import ConfigError
from keyturn.stores.bundle import SessionEngine, Stores
from keyturn.store_urls import SQL_URLS, scheme_of

DATABASE_SETTING = "KEYTURN_DATABASE_URL"
SESSION_SETTING = "KEYTURN_SESSION_STORE_URL"

DatabaseFactory = Callable[[Settings, str], Stores]
SessionFactory = Callable[[Settings, str], SessionEngine]


def _memory_database(settings: Settings, url: str) -> Stores:
    from keyturn.stores.memory import memory_stores

    return memory_stores()


def _sql_database(settings: Settings, url: str) -> Stores:
    from keyturn.stores.sql.bundle import sql_stores

    return sql_stores(settings, url, setting=DATABASE_SETTING)


def _memory_sessions(settings: Settings, url: str) -> SessionEngine:
    from keyturn.stores.memory import memory_session_engine

    return memory_session_engine()


def _sql_sessions(settings: Settings, url: str) -> SessionEngine:
    from keyturn.stores.sql.bundle import sql_session_engine

    return sql_session_engine(settings, url, setting=SESSION_SETTING)


def _redis_sessions(settings: Settings, url: str) -> SessionEngine:
    try:
        from keyturn.stores.redis.bundle import redis_session_engine
    except ImportError:
        raise ConfigError(f"{SESSION_SETTING}: the Redis engine is not installed (pip install 'keyturn[server]')") from None
    return redis_session_engine(settings, url)


DATABASES: dict[str, DatabaseFactory] = {"memory": _memory_database, "sql": _sql_database}
SESSION_ENGINES: dict[str, SessionFactory] = {
    "memory": _memory_sessions, "sql": _sql_sessions, "redis": _redis_sessions,
}


def _role(url: str) -> str:
    """The key of ``url``'s engine in the tables above (the scheme table's
    family, every SQL database being ``sql``); ``""`` for none."""
    found = scheme_of(url)
    if found is None:
        return ""
    return "sql" if found.is_sql else found.family


def _factory(table: Mapping[str, object], url: str, setting: str, hint: str) -> str:
    role = _role(url)
    if role in table:
        return role
    raise ConfigError(f"{setting}: unsupported URL scheme {url.partition(':')[0].lower()!r} ({hint})")


def open_database(settings: Settings) -> Stores:
    """The database's bundle alone, sessions included."""
    url = settings.database_url
    if _role(url) == "redis":
        raise ConfigError(f"{DATABASE_SETTING}: must be an SQL database (Redis can hold sessions only)")
    key = _factory(DATABASES, url, DATABASE_SETTING, f"use {SQL_URLS} or memory:")
    return DATABASES[key](settings, url)


def open_session_engine(settings: Settings) -> SessionEngine | None:
    """The session store when it is not the database; ``None`` when it is."""
    sessions_url = settings.session_store_url
    if sessions_url is None or sessions_url == settings.database_url:
        return None
    key = _factory(SESSION_ENGINES, sessions_url, SESSION_SETTING, "use redis://, an SQL URL or memory:")
    return SESSION_ENGINES[key](settings, sessions_url)


def open_stores(settings: Settings) -> Stores:
    """The database's bundle, with sessions on the session store when one is set."""
    stores = open_database(settings)
    sessions = open_session_engine(settings)
    return stores if sessions is None else stores.with_sessions(sessions)
