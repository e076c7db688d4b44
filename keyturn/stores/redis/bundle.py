"""The Redis engine's bundle: sessions and the security state on one client."""

from __future__ import annotations

from keyturn.config import Settings
from keyturn.stores.bundle import SessionEngine
from keyturn.stores.redis.security import RedisSecurityStore
from keyturn.stores.redis.sessions import RedisSessionStore


def redis_session_engine_on(store: RedisSessionStore) -> SessionEngine:
    return SessionEngine(sessions=store, security=RedisSecurityStore.beside(store), engine=store)


def redis_session_engine(settings: Settings, url: str) -> SessionEngine:
    return redis_session_engine_on(RedisSessionStore.from_settings(settings, url))
