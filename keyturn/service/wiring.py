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
from keyturn.core.policy import BindingMode, BindingPolicy, ProxyPolicy
from keyturn.core.refresh import RefreshMac
from keyturn.errors import ConfigError
from keyturn.service.events import EventRecorder
from keyturn.service.feed import MemoryRevocationLog, RevocationFeed, RevocationLog
from keyturn.service.guards import AccessDenylist, DpopGuard, Throttle
from keyturn.service.keys import KeyCipher, KeySet, derive
from keyturn.service.masterkey import resolve_master_key
from keyturn.service.passwords import PasswordHasher
from keyturn.service.tokens import TokenService
from keyturn.service.webhook import WebhookSender
from keyturn.stores.memory import MemorySecurityStore, MemoryStore
from keyturn.stores.sql.security import SqlSecurityStore
from keyturn.stores.sql.store import SqlStore

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
            from keyturn.stores.redis.sessions import RedisSessionStore  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            raise ConfigError("KEYTURN_SESSION_STORE_URL: the Redis engine is not available") from None
        return RedisSessionStore.from_settings(settings)
    return SqlStore.from_url(
        url, timeout=settings.store_timeout, pool_size=settings.pool_size, pool_timeout=settings.pool_timeout
    )


def open_security_store(settings: Settings, store: Any) -> Any:
    """The shared security state (counters, denylist, DPoP jti cache) on the
    same engine as ``store``, so every replica sharing ``store`` shares it."""
    if isinstance(store, SqlStore):
        hot = getattr(store, "_hot", None)  # share its driver-level connection for the bearer check
        return SqlSecurityStore(store.engine, timeout=settings.store_timeout, hot=hot)
    if isinstance(store, MemoryStore):
        return MemorySecurityStore(beside=store)
    if type(store).__name__ == "RedisSessionStore":
        from keyturn.stores.redis.security import RedisSecurityStore

        return RedisSecurityStore.beside(store)
    return None


def binding_policy(settings: Settings) -> BindingPolicy:
    return BindingPolicy(
        mode=BindingMode(settings.ip_binding),
        v4_prefix=settings.ip_binding_v4_prefix,
        v6_prefix=settings.ip_binding_v6_prefix,
        user_agent=settings.ua_binding,
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
    security: Any = None  # stores.security.SecurityStore on the session store's engine
    clients: Any = None  # stores.security.ResourceClientStore on the database
    webhook: WebhookSender | None = None
    revocations: RevocationFeed | None = None

    async def start(self) -> None:
        """Migrate, then make sure an active signing key exists."""
        await self.database.migrate()
        if self.session_store is not self.database:
            await self.session_store.migrate()
        if self.settings.signing_alg == "HS256" and self.settings.hs256_secret:
            await self.keys.import_secret(self.settings.hs256_secret.encode("utf-8"), self.clock.now())
        await self.keys.ensure_active(self.clock.now())
        if self.webhook is not None:
            await self.webhook.start()

    async def maintain(self) -> None:
        """Periodic upkeep (every replica, about once a minute): pick up keys
        other replicas made, rotate on schedule, purge expired security state."""
        now = self.clock.now()
        await self.keys.reload(now)
        every = self.settings.key_rotation_interval
        if every and self.keys.newest_created_at() + every <= now:
            await self.keys.rotate(now)
        if self.security is not None:
            await self.security.purge_security(now=now)

    def start_maintenance(self, every: float = 60.0) -> None:
        """Run ``maintain`` in the background; a failing round is logged
        and retried next time, never fatal."""
        import asyncio

        async def loop() -> None:
            while True:
                await asyncio.sleep(every)
                try:
                    await self.maintain()
                except Exception:  # noqa: BLE001 - upkeep must not kill the server
                    log.exception("maintenance round failed")

        if "maintenance" not in self.extras:
            self.extras["maintenance"] = asyncio.get_running_loop().create_task(loop())
            self.extras["key_watch"] = asyncio.get_running_loop().create_task(self.keys.watch())

    async def close(self) -> None:
        for name in ("maintenance", "key_watch"):
            task = self.extras.pop(name, None)
            if task is not None:
                task.cancel()
        if self.webhook is not None:
            await self.webhook.close()
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
        publish_ahead=settings.key_publish_ahead, clock=clock.now,
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
        binding=binding_policy(settings),
        revocations=revocations,
    )
    # Counters, denylist and jti cache live with the sessions, so replicas
    # that share sessions share them; resource clients live with the users.
    security = open_security_store(settings, session_store) or open_security_store(settings, database)
    clients = open_security_store(settings, database)
    if security is not None:
        service.throttle = Throttle(security, settings)
        service.denylist = AccessDenylist(security, settings)
        service.dpop = DpopGuard(security, settings)
    webhook = None
    if settings.webhook_url:
        if not settings.webhook_secret:
            raise ConfigError("KEYTURN_WEBHOOK_SECRET: required with KEYTURN_WEBHOOK_URL (events are signed)")
        webhook = WebhookSender(
            settings.webhook_url, settings.webhook_secret, clock=clock, queue_size=settings.webhook_queue_size
        )
        service.events.sink = webhook.submit
    return Runtime(
        settings, clock, database, session_store, keys, service,
        ProxyPolicy.from_cidrs(settings.trusted_proxies), revocations=revocations,
        security=security, clients=clients, webhook=webhook,
    )


def open_revocation_log(settings: Settings, database: Any) -> RevocationLog:
    """The revocation feed lives in the SQL database when there is one, so
    replicas share it; the memory engine keeps it in process."""
    if isinstance(database, SqlStore):
        from keyturn.stores.sql.revocations import SqlRevocationLog

        return SqlRevocationLog(database.engine, timeout=settings.store_timeout)
    return MemoryRevocationLog()
