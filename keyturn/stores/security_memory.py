"""The shared security state in process (tests, embedding, and the memory
engine). No ``await`` between a read and its write, so each method is
atomic on one event loop."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from keyturn.core.revocation import DenyEntry
from keyturn.core.throttle import Counter
from keyturn.errors import StoreUnavailable, UsernameTaken
from keyturn.stores.security import ResourceClient


class MemorySecurityStore:
    """``beside``: the memory store this state lives next to; it is down
    whenever that one is, as tables of one database would be."""

    def __init__(self, beside: Any = None) -> None:
        self._beside = beside
        self.counter_rows: dict[str, tuple[int, float, float]] = {}  # count, last_at, expires_at
        self.deny_rows: dict[str, tuple[float, float]] = {}  # created_at, expires_at
        self.jti_rows: dict[str, float] = {}
        self.clients: dict[str, ResourceClient] = {}
        self.down = False  # tests flip this to simulate an outage

    def _check(self) -> None:
        if self.down or getattr(self._beside, "down", False):
            raise StoreUnavailable()

    async def counters(self, keys: Sequence[str], *, now: float) -> dict[str, Counter]:
        self._check()
        out: dict[str, Counter] = {}
        for key in keys:
            row = self.counter_rows.get(key)
            if row is not None and row[2] > now:
                out[key] = Counter(row[0], row[1])
        return out

    async def increment(self, key: str, *, now: float, expires_at: float) -> Counter:
        self._check()
        row = self.counter_rows.get(key)
        count = 1 if row is None or row[2] <= now else row[0] + 1
        self.counter_rows[key] = (count, now, expires_at)
        return Counter(count, now)

    async def reset(self, key: str) -> None:
        self._check()
        self.counter_rows.pop(key, None)

    async def deny(self, keys: Sequence[str], *, now: float, expires_at: float) -> None:
        self._check()
        for key in keys:
            row = self.deny_rows.get(key)
            if row is None or row[1] <= now:
                self.deny_rows[key] = (now, expires_at)
            else:
                self.deny_rows[key] = (row[0], max(row[1], expires_at))

    async def any_denied(self, keys: Sequence[str], *, now: float) -> bool:
        self._check()
        return any((row := self.deny_rows.get(k)) is not None and row[1] > now for k in keys)

    async def denied_since(self, since: float, *, now: float, limit: int = 1000) -> list[DenyEntry]:
        self._check()
        live = [DenyEntry(k, c, e) for k, (c, e) in self.deny_rows.items() if c >= since and e > now]
        return sorted(live, key=lambda d: (d.created_at, d.key))[:limit]

    async def first_use(self, key: str, *, now: float, expires_at: float) -> bool:
        self._check()
        seen = self.jti_rows.get(key)
        if seen is not None and seen > now:
            return False
        self.jti_rows[key] = expires_at
        return True

    async def add_client(self, client: ResourceClient) -> None:
        self._check()
        if any(c.name == client.name for c in self.clients.values()):
            raise UsernameTaken("that client name is taken")
        self.clients[client.id] = client

    async def client_by_id(self, client_id: str) -> ResourceClient | None:
        self._check()
        return self.clients.get(client_id)

    async def list_clients(self) -> list[ResourceClient]:
        self._check()
        return sorted(self.clients.values(), key=lambda c: c.created_at)

    async def purge_security(self, *, now: float) -> int:
        self._check()
        dead = [k for k, r in self.counter_rows.items() if r[2] <= now]
        dead_d = [k for k, r in self.deny_rows.items() if r[1] <= now]
        dead_j = [k for k, e in self.jti_rows.items() if e <= now]
        for k in dead:
            del self.counter_rows[k]
        for k in dead_d:
            del self.deny_rows[k]
        for k in dead_j:
            del self.jti_rows[k]
        return len(dead) + len(dead_d) + len(dead_j)
