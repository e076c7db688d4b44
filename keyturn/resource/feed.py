"""Revocation awareness for resource servers, without a call per request.

A ``RevocationSource`` yields batches of revoked session ids; the
``RevokedSessions`` set keeps each until its ``exp`` (after which every
access token of that session is expired anyway); the ``Verifier`` polls the
source in a background thread. ``HttpRevocationSource`` reads the service's
``GET /auth/revocations`` (plain polling, or long-polling with ``wait``).

Seam: a push source (e.g. Redis pub/sub once the Redis engine is in) only
has to implement ``RevocationSource.poll`` — block until news or ``wait``
seconds, return a batch — and the Verifier needs no change.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from keyturn.errors import StoreUnavailable


class RevocationFeedUnavailable(StoreUnavailable):
    """The feed has not answered for longer than the Verifier tolerates:
    fail closed (503) rather than accept tokens that may be revoked."""

    description = "the revocation feed is unreachable; retry shortly"


@dataclass(frozen=True, slots=True)
class RevocationBatch:
    cursor: str | None
    revoked: list[tuple[str, float]] = field(default_factory=list)
    keys: list[tuple[str, float]] = field(default_factory=list)  # revoked signing keys: (kid, until)


class RevocationSource(Protocol):
    def poll(self, cursor: str | None, *, wait: float) -> RevocationBatch:
        """Entries after ``cursor``; may block up to ``wait`` seconds for news.
        Raises on failure (the Verifier backs off and retries)."""

    def close(self) -> None: ...


class HttpRevocationSource:
    """Reads ``GET /auth/revocations`` as an authenticated resource server
    (HTTP Basic with the id and secret from ``KEYTURN_RESOURCE_CLIENTS``)."""

    def __init__(
        self,
        url: str,
        *,
        client_id: str,
        client_secret: str,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url
        self._timeout = timeout
        self._client = httpx.Client(auth=(client_id, client_secret), transport=transport, timeout=timeout)

    def poll(self, cursor: str | None, *, wait: float) -> RevocationBatch:
        params: dict[str, str] = {"since": cursor or ""}
        if wait > 0:
            params["wait"] = f"{wait:g}"
        response = self._client.get(self.url, params=params, timeout=self._timeout + wait)
        response.raise_for_status()
        body = response.json()
        revoked: list[tuple[str, float]] = []
        keys: list[tuple[str, float]] = []
        for item in body.get("revoked", []):
            sid, kid, exp = item.get("sid"), item.get("kid"), item.get("exp")
            if not (isinstance(exp, (int, float)) and math.isfinite(exp)):
                continue
            if isinstance(sid, str):
                revoked.append((sid, float(exp)))
            elif isinstance(kid, str):
                keys.append((kid, float(exp)))
        cursor_out = body.get("cursor")
        return RevocationBatch(cursor_out if isinstance(cursor_out, str) else cursor, revoked, keys)

    def close(self) -> None:
        self._client.close()


class RevokedSessions:
    """Revoked session ids with the time each stops mattering. Reads are a
    dict lookup; writes come from the poller thread."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, entries: Iterable[tuple[str, float]], *, now: float) -> None:
        with self._lock:
            until = dict(self._until)
            for sid, exp in entries:
                until[sid] = max(exp, until.get(sid, exp))
            # Purge: past exp, the session's tokens fail as expired anyway.
            self._until = {s: e for s, e in until.items() if e > now}

    def is_revoked(self, sid: str, now: float) -> bool:
        exp = self._until.get(sid)
        return exp is not None and now < exp

    def __len__(self) -> int:
        return len(self._until)
