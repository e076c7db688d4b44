"""Seams for the shared security state (issue 5): throttling counters, the
access-token denylist, the DPoP ``jti`` replay cache and resource-server
clients. All of it must be shared by every replica, so it lives in the
session store's database (clients: in the main database).

Every engine raises ``StoreUnavailable`` when it cannot answer; callers
fail closed on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from keyturn.core.revocation import DenyEntry
from keyturn.core.throttle import Counter


class CounterStore(Protocol):
    async def counters(self, keys: Sequence[str], *, now: float) -> dict[str, Counter]:
        """The live counters among ``keys`` (missing or expired ones absent)."""

    async def increment(self, key: str, *, now: float, expires_at: float) -> Counter:
        """Atomically add one (starting from zero if missing or expired) and
        return the new value; the counter lives until ``expires_at``."""

    async def reset(self, key: str) -> None: ...


class Denylist(Protocol):
    async def deny(self, keys: Sequence[str], *, now: float, expires_at: float) -> None:
        """Add (or extend) entries; committed before returning."""

    async def any_denied(self, keys: Sequence[str], *, now: float) -> bool:
        """One O(1) lookup per key. Raises ``StoreUnavailable`` rather than
        answering "not denied" when it cannot tell."""

    async def denied_since(self, since: float, *, now: float, limit: int = 1000) -> list[DenyEntry]:
        """Live entries created at or after ``since``, oldest first (for the
        revocation feed)."""


class ReplayCache(Protocol):
    async def first_use(self, key: str, *, now: float, expires_at: float) -> bool:
        """Record ``key``; True iff it was not already recorded (and live).
        Atomic: of concurrent callers with one key, exactly one gets True."""


@dataclass(frozen=True, slots=True)
class ResourceClient:
    id: str
    name: str
    secret_hash: str
    created_at: float
    disabled: bool = False


class ResourceClientStore(Protocol):
    async def add_client(self, client: ResourceClient) -> None: ...

    async def client_by_id(self, client_id: str) -> ResourceClient | None: ...

    async def list_clients(self) -> list[ResourceClient]: ...


class SecurityStore(CounterStore, Denylist, ReplayCache, ResourceClientStore, Protocol):
    """All four on one engine, plus housekeeping."""

    async def purge_security(self, *, now: float) -> int: ...
