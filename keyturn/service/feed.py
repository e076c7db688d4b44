"""The revocation feed: how resource servers learn, without a call per
request, that a session ended before its access tokens expired.

Every revocation the service commits (logout, logout-all, logout-others,
password change, reuse detection, eviction, admin revoke, user disable) is
also appended here as ``(sid, exp)``; a single access token revoked through
RFC 7009 as ``("jti:" + jti, exp)``: ``exp`` is when the session's last
access token stops being accepted anywhere (now + access-token TTL + clock
leeway), after which the entry is useless and is purged. Entries live in a
small shared log (an SQL table, or memory for the in-process engine), so
every replica serves the same feed; ``GET /auth/revocations`` reads it.

The cursor is opaque to clients: ``<settled>.<seen>`` row ids. The log
makes ids visible in the order they were taken (on SQL, inserts queue on a
lock row: ``keyturn.stores.sql.revocations``), so no reader can see an id
while a lower one is still to commit, whatever the clocks say. Rows written
by a release before that lock (beside this one during a rolling upgrade) may
still commit out of order: for them the settled part never moves past a row
younger than ``SETTLE`` seconds, and a row delivered twice is harmless (a
revoked set is idempotent). The seen part tells a long-poll what is news.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from keyturn.stores.protocols import Revocation, RevocationLog

TOKEN_PREFIX = "jti:"  # an entry for one access token, not a session (session ids never have it)
SETTLE = 5.0
PAGE = 1000
PURGE_EVERY = 60.0


@dataclass(frozen=True, slots=True)
class Cursor:
    settled: int = 0
    seen: int = 0

    def __str__(self) -> str:
        return f"{self.settled}.{self.seen}"

    @classmethod
    def parse(cls, raw: str | None) -> Cursor | None:
        """A cursor from the query string; ``None`` if it is not one of ours."""
        if raw is None or raw == "":
            return cls()
        settled, dot, seen = raw.partition(".")
        if not (dot and settled.isdigit() and seen.isdigit()) or len(raw) > 40:
            return None
        a, b = int(settled), int(seen)
        return cls(a, b) if a <= b else None


class RevocationFeed:
    """The service-side notifier and reader. ``TokenService`` calls
    ``notify`` at every revocation point; the HTTP edge calls ``since``."""

    def __init__(self, log: RevocationLog, *, ttl: float) -> None:
        self.log = log
        self.ttl = ttl
        self._changed = asyncio.Event()
        self._last_purge = float("-inf")

    async def notify(self, sids: Iterable[str], *, now: float) -> None:
        ids = [s for s in dict.fromkeys(sids) if s]
        if not ids:
            return
        await self.log.add_revocations(ids, exp=now + self.ttl, now=now)
        # Wake long-polls served by this process; other replicas' waiters
        # see the row on their next re-read.
        self._changed.set()
        self._changed = asyncio.Event()
        mono = time.monotonic()
        if mono - self._last_purge >= PURGE_EVERY:
            self._last_purge = mono
            await self.log.purge_revocations(now=now)

    async def notify_tokens(self, tokens: Iterable[tuple[str, float]], *, now: float) -> None:
        """Single access tokens revoked (RFC 7009), as ``(jti, exp)``: each
        entry lives until that token could no longer be accepted anyway."""
        for jti, exp in dict(tokens).items():
            if jti and exp > now:
                await self.log.add_revocations([TOKEN_PREFIX + jti], exp=exp, now=now)
        self._changed.set()
        self._changed = asyncio.Event()

    async def since(self, cursor: Cursor, *, now: float) -> tuple[Cursor, list[Revocation]]:
        """Entries after ``cursor`` (possibly some already seen) and the next cursor."""
        rows = await self.log.revocations_after(cursor.settled, now=now, limit=PAGE)
        settled = cursor.settled
        for row in rows:
            if row.at > now - SETTLE:
                break  # older ids may still be committing: do not pass this one
            settled = row.id
        seen = max([cursor.seen, settled, *(r.id for r in rows)])
        return Cursor(settled, seen), rows

    @staticmethod
    def has_news(cursor: Cursor, rows: list[Revocation]) -> bool:
        return any(r.id > cursor.seen for r in rows)

    async def wait(self, timeout: float) -> None:
        """Return when this process records a revocation, or after ``timeout``."""
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            pass


class RevocationNotifier(Protocol):
    """What ``TokenService`` calls at every revocation point."""

    async def notify(self, sids: Iterable[str], *, now: float) -> None: ...

    async def notify_tokens(self, tokens: Iterable[tuple[str, float]], *, now: float) -> None: ...
