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
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

CONTENT_TYPE = CONTENT_TYPE_LATEST

# Error code → refresh outcome label (DESIGN.md "Refresh semantics").
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
    "refresh_token_reused": "reuse",
    "session_evicted": "evicted",
}

LOGIN_ROUTES = frozenset({"/auth/login"})
REFRESH_ROUTES = frozenset({"/auth/refresh", "/auth/reissue", "/oauth/token"})

# Latency buckets for a token service: most answers take 1-50 ms; argon2
# logins take 50-500 ms.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

# Set by ``keyturn serve`` for several workers (see keyturn.cli.serve): each
# worker counts into that directory and /metrics sums them.
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


class Metrics:
    """The keyturn_ metrics of one app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # Decided once, like prometheus-client itself decides at import.
        self.multiprocess_dir = os.environ.get(MULTIPROCESS_ENV) or None
        r = self.registry
        self.logins = Counter("keyturn_logins", "Login attempts by outcome.", ["outcome"], registry=r)
        self.refreshes = Counter(
            "keyturn_refreshes", "Refresh attempts by outcome (rotated, grace_retry, reused, ...).",
            ["outcome"], registry=r,
        )
        self.revocations = Counter(
            "keyturn_revocations", "Sessions revoked, by reason.", ["reason"], registry=r,
        )
        self.store_errors = Counter(
            "keyturn_store_errors", "Requests that failed because a store was unavailable.", ["route"], registry=r,
        )
        self.requests = Counter(
            "keyturn_http_requests", "HTTP requests by route template, method and status.",
            ["route", "method", "status"], registry=r,
        )
        self.latency = Histogram(
            "keyturn_http_request_duration_seconds", "Request latency by route template.",
            ["route", "method"], buckets=BUCKETS, registry=r,
        )
        # Label children cached: .labels() takes a lock and hashes each call.
        self._latency: dict[tuple[str, str], Any] = {}
        self._requests: dict[tuple[str, str, int], Any] = {}
        self._outcomes: dict[tuple[int, str], Any] = {}

    def _count(self, counter: Counter, kind: int, label: str) -> None:
        child = self._outcomes.get((kind, label))
        if child is None:
            child = self._outcomes[(kind, label)] = counter.labels(label)
        child.inc()

    def observe_request(self, route: str, method: str, status: int, seconds: float, code: str | None, grace: bool) -> None:
        key = (route, method)
        child = self._latency.get(key)
        if child is None:
            child = self._latency[key] = self.latency.labels(route, method)
        child.observe(seconds)
        rkey = (route, method, status)
        counter = self._requests.get(rkey)
        if counter is None:
            counter = self._requests[rkey] = self.requests.labels(route, method, str(status))
        counter.inc()
        if code == "store_unavailable":
            self.store_errors.labels(route).inc()
        if route in REFRESH_ROUTES:
            if status == 200:
                self._count(self.refreshes, 0, "grace_retry" if grace else "rotated")
            elif code is not None:
                self._count(self.refreshes, 0, REFRESH_OUTCOMES.get(code, code))
        elif route in LOGIN_ROUTES:
            if status == 200:
                self._count(self.logins, 1, "success")
            elif code is not None:
                self._count(self.logins, 1, code)

    def observe_event(self, type: str, detail: dict[str, Any]) -> None:
        reason = REVOCATION_EVENTS.get(type)
        if reason is None:
            return
        count = detail.get("sessions", 1)
        if isinstance(count, int) and count > 0:
            self.revocations.labels(reason).inc(count)

    def render(self) -> bytes:
        """The exposition text: this app's counts, or with several workers
        the sum over every worker of the server."""
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
