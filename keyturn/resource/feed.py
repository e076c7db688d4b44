"""Revocation awareness for resource servers, without a call per request.

A ``RevocationSource`` yields batches of revoked session ids and of single
access tokens revoked through RFC 7009 (by ``jti``); the
``RevokedSessions`` set keeps each until its ``exp`` (after which every
access token of that session is expired anyway); the Verifier's
``FeedPoller`` (``keyturn.resource.feed_poller``) polls the source in a
background thread. ``HttpRevocationSource`` reads the service's
``GET /auth/revocations`` (plain polling, or long-polling with ``wait``).

Seam: a push source (e.g. Redis pub/sub once the Redis engine is in) only
has to implement ``RevocationSource.poll`` — block until news or ``wait``
seconds, return a batch — and the Verifier needs no change.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from keyturn.errors import KeyturnError, StoreUnavailable

log = logging.getLogger("keyturn.verify")


class RevocationFeedUnavailable(StoreUnavailable):
    """The feed has not answered for longer than the Verifier tolerates:
    fail closed (503) rather than accept tokens that may be revoked."""

    description = "the revocation feed is unreachable; retry shortly"


class RevocationFeedRefused(KeyturnError):
    """The feed answered 401/403: our client id or secret is wrong. That is
    a configuration error, not an outage: waiting will not fix it, so the
    Verifier fails closed at once (500, not a 503 that invites retries)
    and says in its log which settings to check."""

    description = "the resource server is misconfigured: the revocation feed refused its credentials"

    def __init__(self, detail: str = "") -> None:
        super().__init__()
        self.detail = detail  # for the log; the description is what callers see


REFUSED_HINT = "the revocation feed refused our client credentials: check KEYTURN_CLIENT_ID/SECRET"


class FeedHealth:
    """The feed's last known state (``ok``, ``refused``, ``unreachable``),
    logged once per change rather than once per poll."""

    def __init__(self) -> None:
        self.state = "unknown"

    def note(self, state: str, detail: str = "") -> None:
        if state == self.state:
            return
        before, self.state = self.state, state
        if state == "refused":
            log.error("%s (%s)", REFUSED_HINT, detail)
        elif state == "unreachable":
            log.warning("revocation feed unreachable (%s); retrying, failing closed once it is stale", detail)
        elif before in {"refused", "unreachable"}:
            log.warning("revocation feed reachable again")


@dataclass(frozen=True, slots=True)
class RevocationBatch:
    cursor: str | None
    revoked: list[tuple[str, float]] = field(default_factory=list)
    tokens: list[tuple[str, float]] = field(default_factory=list)
    """Single access tokens revoked (RFC 7009), by ``jti``."""
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
        if response.status_code in {401, 403}:
            raise RevocationFeedRefused(f"{self.url} answered {response.status_code}")
        response.raise_for_status()
        return batch_from_body(response.json(), cursor)

    def close(self) -> None:
        self._client.close()


def batch_from_body(body: object, cursor: str | None) -> RevocationBatch:
    """A batch from the feed's JSON answer; malformed entries are skipped."""
    if not isinstance(body, dict):
        raise ValueError("the revocation feed did not answer with a JSON object")
    revoked: list[tuple[str, float]] = []
    tokens: list[tuple[str, float]] = []
    keys: list[tuple[str, float]] = []
    items = body.get("revoked")
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        exp = item.get("exp")
        if isinstance(exp, bool) or not isinstance(exp, (int, float)) or not math.isfinite(exp):
            continue
        sid, jti, kid = item.get("sid"), item.get("jti"), item.get("kid")
        if isinstance(sid, str):
            revoked.append((sid, float(exp)))
        elif isinstance(jti, str):
            tokens.append((jti, float(exp)))
        elif isinstance(kid, str):
            keys.append((kid, float(exp)))
    cursor_out = body.get("cursor")
    return RevocationBatch(cursor_out if isinstance(cursor_out, str) else cursor, revoked, tokens, keys)


class RevokedSessions:
    """Revoked session ids and access-token ``jti``s, each with the time it
    stops mattering. Reads are a dict lookup; writes come from the poller
    thread."""

    def __init__(self) -> None:
        self._until: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def add(
        self, entries: Iterable[tuple[str, float]], *, now: float, tokens: Iterable[tuple[str, float]] = ()
    ) -> None:
        with self._lock:
            until = dict(self._until)
            keyed = [(("sid", sid), exp) for sid, exp in entries] + [(("jti", jti), exp) for jti, exp in tokens]
            for key, exp in keyed:
                until[key] = max(exp, until.get(key, exp))
            # Purge: past exp, the tokens concerned fail as expired anyway.
            self._until = {k: e for k, e in until.items() if e > now}

    def is_revoked(self, sid: str, now: float) -> bool:
        exp = self._until.get(("sid", sid))
        return exp is not None and now < exp

    def is_token_revoked(self, jti: str, now: float) -> bool:
        exp = self._until.get(("jti", jti))
        return exp is not None and now < exp

    def __len__(self) -> int:
        return len(self._until)
