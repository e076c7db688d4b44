"""Prometheus metrics, one ``CollectorRegistry`` per app (never the global
one), so several apps in one process — tests, or an embedding that mounts
keyturn twice — keep separate counts.

Outcomes are counted where they are known without touching the service:
login and refresh outcomes at the HTTP edge from the error ``code`` (and
the token pair's ``grace`` flag), revocations from the security events.

With several worker processes (``keyturn serve --workers N``) each worker
writes its counts to files in a directory shared by the whole server
(prometheus-client's multiprocess mode), and ``/metrics`` sums them, so any
worker answers for the whole server, not for itself.
"""

from __future__ import annotations

import os
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from keyturn.http.tally import Counts, Latency, Tally

CONTENT_TYPE = CONTENT_TYPE_LATEST

# Error code → refresh outcome label (docs/concepts.md, "Refresh semantics").
REFRESH_OUTCOMES = {
    "refresh_token_reused": "reused",
    "refresh_token_expired": "expired",
    "binding_mismatch": "binding_mismatch",
    "refresh_token_invalid": "invalid",
    "session_revoked": "revoked",
    "missing_refresh_token": "missing",
}

# Security event type → revocation reason.
REVOCATION_EVENTS = {
    "logout": "logout",
    "logout_all": "logout_all",
    "logout_others": "logout_others",
    "session_revoked": "user_revoked",
    "password_changed": "password_changed",
    "user_disabled": "user_disabled",
    "password_reset": "password_reset",
    "user_deleted": "user_deleted",
    "refresh_token_reused": "reuse",
    "session_evicted": "evicted",
    "backend_revoked": "backend_revoked",
}

LOGIN_ROUTES = frozenset({"/auth/login"})
REFRESH_ROUTES = frozenset({"/auth/refresh", "/auth/reissue", "/oauth/token"})

# Latency buckets for a token service: most answers take 1-50 ms; argon2
# logins take 50-500 ms.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

# Set by ``keyturn serve`` for several workers (see keyturn.cli.serve): each
# worker counts into that directory and /metrics sums them.
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


# (name, help, labels) of each family, in exposition order.
LOGINS = ("keyturn_logins", "Login attempts by outcome.", ("outcome",))
REFRESHES = ("keyturn_refreshes", "Refresh attempts by outcome (rotated, grace_retry, reused, ...).", ("outcome",))
REVOCATIONS = ("keyturn_revocations", "Sessions revoked, by reason.", ("reason",))
STORE_ERRORS = ("keyturn_store_errors", "Requests that failed because a store was unavailable.", ("route",))
REQUESTS = ("keyturn_http_requests", "HTTP requests by route template, method and status.", ("route", "method", "status"))
LATENCY = ("keyturn_http_request_duration_seconds", "Request latency by route template.", ("route", "method"))
COUNTERS = (LOGINS, REFRESHES, REVOCATIONS, STORE_ERRORS, REQUESTS)


class CounterSink(Protocol):
    def inc(self, key: tuple[str, ...], amount: float = 1) -> None: ...


class LatencySink(Protocol):
    def observe(self, key: tuple[str, ...], seconds: float) -> None: ...


class _Shared:
    """A prometheus-client metric (multiprocess mode: each increment goes to
    the worker's file at once), label children cached: ``.labels()`` takes a
    lock and hashes on each call."""

    def __init__(self, metric: Counter | Histogram) -> None:
        self.metric = metric
        self.children: dict[tuple[str, ...], Any] = {}

    def _child(self, key: tuple[str, ...]) -> Any:
        child = self.children.get(key)
        if child is None:
            child = self.children[key] = self.metric.labels(*key)
        return child

    def inc(self, key: tuple[str, ...], amount: float = 1) -> None:
        self._child(key).inc(amount)

    def observe(self, key: tuple[str, ...], seconds: float) -> None:
        self._child(key).observe(seconds)


class Metrics:
    """The keyturn_ metrics of one app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # Decided once, like prometheus-client itself decides at import.
        self.multiprocess_dir = os.environ.get(MULTIPROCESS_ENV) or None
        r = self.registry
        counters: list[CounterSink]
        latency: LatencySink
        if self.multiprocess_dir is None:
            local = [Counts(name, doc, labels) for name, doc, labels in COUNTERS]
            local_latency = Latency(LATENCY[0], LATENCY[1], LATENCY[2], BUCKETS)
            r.register(Tally([*local, local_latency]))
            counters, latency = list(local), local_latency
        else:
            counters = [_Shared(Counter(name, doc, labels, registry=r)) for name, doc, labels in COUNTERS]
            latency = _Shared(Histogram(LATENCY[0], LATENCY[1], LATENCY[2], buckets=BUCKETS, registry=r))
        self.logins, self.refreshes, self.revocations, self.store_errors, self.requests = counters
        self.latency = latency
        # Status code → its label, made once.
        self._status: dict[int, str] = {}

    def observe_request(self, route: str, method: str, status: int, seconds: float, code: str | None, grace: bool) -> None:
        self.latency.observe((route, method), seconds)
        label = self._status.get(status)
        if label is None:
            label = self._status[status] = str(status)
        self.requests.inc((route, method, label))
        if code == "store_unavailable":
            self.store_errors.inc((route,))
        if route in REFRESH_ROUTES:
            if status == 200:
                self.refreshes.inc(("grace_retry" if grace else "rotated",))
            elif code is not None:
                self.refreshes.inc((REFRESH_OUTCOMES.get(code, code),))
        elif route in LOGIN_ROUTES:
            if status == 200:
                self.logins.inc(("success",))
            elif code is not None:
                self.logins.inc((code,))

    def observe_event(self, type: str, detail: dict[str, Any]) -> None:
        reason = REVOCATION_EVENTS.get(type)
        if reason is None:
            return
        count = detail.get("sessions", 1)
        if isinstance(count, int) and count > 0:
            self.revocations.inc((reason,), count)

    def render(self) -> bytes:
        """The exposition text: this app's counts, or with several workers
        the sum over every worker of the server."""
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
