"""Wiring: settings in, a started ``TokenService`` out.

Used by the HTTP app, the CLI and anyone embedding keyturn. Nothing here is
global: each ``Runtime`` owns its engines and closes them.
"""

from __future__ import annotations

import logging
import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from keyturn.clock import Clock, SystemClock
from keyturn.config import Settings
from keyturn.core.policy import BindingMode, BindingPolicy, ProxyPolicy
from keyturn.core.refresh import RefreshMac
from keyturn.errors import ConfigError
from keyturn.service.clocks import EVERY as CLOCK_EVERY
from keyturn.service.clocks import ClockWatch, StoreClock
from keyturn.service.events import EventRecorder, Listener
from keyturn.service.feed import RevocationFeed
from keyturn.service.guards import AccessDenylist, DpopGuard, Throttle
from keyturn.service.keys import KeyCipher, KeySet, derive
from keyturn.service.masterkey import resolve_master_key
from keyturn.service.passwords import PasswordHasher
from keyturn.service.tokens import TokenService
from keyturn.service.webhook import WebhookSender
from keyturn.stores.bundle import Stores
from keyturn.stores.explain import opening
from keyturn.stores.open import open_stores

log = logging.getLogger("keyturn")


def binding_policy(settings: Settings) -> BindingPolicy:
    return BindingPolicy(
        mode=BindingMode(settings.ip_binding),
        v4_prefix=settings.ip_binding_v4_prefix,
        v6_prefix=settings.ip_binding_v6_prefix,
        user_agent=settings.ua_binding,
        grace_same_network=settings.grace_same_network,
    )


@dataclass
class Runtime:
    settings: Settings
    clock: Clock
    stores: Stores
    keys: KeySet
    service: TokenService
    proxies: ProxyPolicy
    revocations: RevocationFeed
    webhook: WebhookSender | None = None
    clocks: ClockWatch | None = None
    maintenance: asyncio.Task[None] | None = field(default=None, init=False)
    clock_watch: asyncio.Task[None] | None = field(default=None, init=False)
    key_watch: asyncio.Task[None] | None = field(default=None, init=False)

    async def start(self) -> None:
        """Migrate, then make sure an active signing key exists."""
        async with opening("database", self.settings.database_url):
            await self.stores.database.migrate()
        if self.stores.session_engine is not None:
            async with opening("session store", self.settings.sessions_url):
                await self.stores.session_engine.migrate()
        if self.clocks is not None:
            await self.clocks.measure()  # before the first time is read in the store's time
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
        await self.stores.security.purge_security(now=now)

    def start_maintenance(self, every: float = 60.0) -> None:
        """Run ``maintain`` in the background; a failing round is logged
        and retried next time, never fatal."""
        async def loop() -> None:
            while True:
                await asyncio.sleep(every)
                try:
                    await self.maintain()
                except Exception:  # noqa: BLE001 - upkeep must not kill the server
                    log.exception("maintenance round failed")

        async def watch_clocks() -> None:
            assert self.clocks is not None
            while True:
                await asyncio.sleep(CLOCK_EVERY)
                try:
                    await self.clocks.measure()
                except Exception:  # noqa: BLE001 - the next round measures again
                    log.exception("measuring the stores' clocks failed")

        if self.maintenance is None:
            self.maintenance = asyncio.get_running_loop().create_task(loop())
            if self.clocks is not None:
                self.clock_watch = asyncio.get_running_loop().create_task(watch_clocks())
            # Keys made or revoked by other replicas are picked up within a second.
            self.key_watch = asyncio.get_running_loop().create_task(self.keys.watch())

    async def close(self) -> None:
        for task in (self.maintenance, self.key_watch, self.clock_watch):
            if task is not None:
                task.cancel()
        self.maintenance = self.key_watch = self.clock_watch = None
        if self.webhook is not None:
            await self.webhook.close()
        await self.stores.close()
        self.service.passwords.close()


def build_runtime(
    settings: Settings, *, clock: Clock | None = None, stores: Stores | None = None,
    event_listeners: Sequence[Listener] = (),
) -> Runtime:
    """Everything wired once, in constructors. ``stores``: an already opened
    bundle (tests, embedding); by default the one the settings' URLs name.
    ``event_listeners``: observers of every security event (the app's
    metrics), handed to the ``EventRecorder``."""
    master = resolve_master_key(settings)
    if settings.webhook_url and not settings.webhook_secret:
        raise ConfigError("KEYTURN_WEBHOOK_SECRET: required with KEYTURN_WEBHOOK_URL (events are signed)")
    stores = stores if stores is not None else open_stores(settings)
    # The service's time is the session store's: see keyturn.service.clocks.
    clocks = ClockWatch(stores.engines, limit=settings.max_clock_offset)
    clock = StoreClock(clock or SystemClock(), clocks)
    webhook = None
    if settings.webhook_url and settings.webhook_secret:
        webhook = WebhookSender(
            settings.webhook_url, settings.webhook_secret, clock=clock, queue_size=settings.webhook_queue_size
        )
    keys = KeySet(
        stores.keys, KeyCipher(master), settings.signing_alg,
        publish_for=settings.access_token_ttl + settings.clock_leeway,
        publish_ahead=settings.key_publish_ahead, clock=clock.now,
    )
    revocations = RevocationFeed(stores.revocations, ttl=settings.access_token_ttl + settings.clock_leeway)
    service = TokenService(
        settings,
        users=stores.users,
        sessions=stores.sessions,
        keys=keys,
        mac=RefreshMac(derive(master, "refresh-tokens")),
        passwords=PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_cost,
            parallelism=settings.argon2_parallelism,
        ),
        events=EventRecorder(
            stores.events, webhook.submit if webhook is not None else None, listeners=event_listeners,
        ),
        clock=clock,
        binding=binding_policy(settings),
        # Counters, denylist and jti cache live with the sessions, so
        # replicas that share sessions share them.
        throttle=Throttle(stores.security, settings),
        denylist=AccessDenylist(stores.security, settings),
        dpop=DpopGuard(stores.security, settings, nonce_key=derive(master, "dpop-nonces")),
        revocations=revocations,
        clocks=clocks,
    )
    return Runtime(
        settings, clock, stores, keys, service, ProxyPolicy.from_cidrs(settings.trusted_proxies),
        revocations, webhook, clocks,
    )
