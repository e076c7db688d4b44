"""Wiring: settings in, a started ``TokenService`` out.

Used by the HTTP app, the CLI and anyone embedding keyturn. Nothing here is
global: each ``Runtime`` owns its engines and closes them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from keyturn.clock import Clock, SystemClock
from keyturn.config import Settings
from keyturn.core.policy import BindingPolicy, ProxyPolicy
from keyturn.core.refresh import RefreshMac
from keyturn.errors import ConfigError
from keyturn.events import EventRecorder
from keyturn.keys import KeyCipher, KeySet, derive
from keyturn.masterkey import resolve_master_key
from keyturn.passwords import PasswordHasher
from keyturn.revocation import MemoryRevocationLog, RevocationFeed, RevocationLog
from keyturn.service import TokenService
from keyturn.stores.memory import MemoryStore
from keyturn.stores.sql import SqlStore

log = logging.getLogger("keyturn")


def open_database(settings: Settings) -> Any:
    """The store for users, keys and events (and sessions by default)."""
    url = settings.database_url
    if url.startswith("memory:"):
        return MemoryStore()
    if url.split(":", 1)[0].startswith("redis"):
        raise ConfigError("KEYTURN_DATABASE_URL: must be an SQL database (Redis can hold sessions only)")
    return SqlStore.from_url(
        url, timeout=settings.store_timeout, pool_size=settings.pool_size, pool_timeout=settings.pool_timeout
    )


def open_session_store(settings: Settings, database: Any) -> Any:
    url = settings.session_store_url
    if url is None or url == settings.database_url:
        return database
    if url.startswith("memory:"):
        return MemoryStore()
    if url.split(":", 1)[0].startswith("redis"):
        try:
            from keyturn.stores.redis import RedisSessionStore  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            raise ConfigError("KEYTURN_SESSION_STORE_URL: the Redis engine is not available") from None
        return RedisSessionStore.from_settings(settings)
    return SqlStore.from_url(
        url, timeout=settings.store_timeout, pool_size=settings.pool_size, pool_timeout=settings.pool_timeout
    )


@dataclass
class Runtime:
    settings: Settings
    clock: Clock
    database: Any
    session_store: Any
    keys: KeySet
    service: TokenService
    proxies: ProxyPolicy
    extras: dict[str, Any] = field(default_factory=dict)
    revocations: RevocationFeed | None = None

    async def start(self) -> None:
        """Migrate, then make sure an active signing key exists."""
        await self.database.migrate()
        if self.session_store is not self.database:
            await self.session_store.migrate()
        await self.keys.ensure_active(self.clock.now())

    async def close(self) -> None:
        if self.session_store is not self.database:
            await self.session_store.close()
        await self.database.close()


def build_runtime(
    settings: Settings,
    *,
    clock: Clock | None = None,
    database: Any = None,
    session_store: Any = None,
) -> Runtime:
    clock = clock or SystemClock()
    master = resolve_master_key(settings)
    database = database if database is not None else open_database(settings)
    session_store = session_store if session_store is not None else open_session_store(settings, database)
    keys = KeySet(
        database, KeyCipher(master), settings.signing_alg,
        publish_for=settings.access_token_ttl + settings.clock_leeway,
    )
    revocations = RevocationFeed(
        open_revocation_log(settings, database), ttl=settings.access_token_ttl + settings.clock_leeway
    )
    service = TokenService(
        settings,
        users=database,
        sessions=session_store,
        keys=keys,
        mac=RefreshMac(derive(master, "refresh-tokens")),
        passwords=PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_cost,
            parallelism=settings.argon2_parallelism,
        ),
        events=EventRecorder(database),
        clock=clock,
        binding=BindingPolicy(),
        revocations=revocations,
    )
    return Runtime(
        settings, clock, database, session_store, keys, service,
        ProxyPolicy.from_cidrs(settings.trusted_proxies), revocations=revocations,
    )


def open_revocation_log(settings: Settings, database: Any) -> RevocationLog:
    """The revocation feed lives in the SQL database when there is one, so
    replicas share it; the memory engine keeps it in process."""
    if isinstance(database, SqlStore):
        from keyturn.stores.sql_revocations import SqlRevocationLog

        return SqlRevocationLog(database.engine, timeout=settings.store_timeout)
    return MemoryRevocationLog()
