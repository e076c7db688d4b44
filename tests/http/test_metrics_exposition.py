"""The plain-number tally exposes exactly what prometheus-client's own
Counter and Histogram would for the same observations."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

from keyturn.http.metrics import BUCKETS, COUNTERS, LATENCY, Metrics

# (route, method, status, seconds, code, grace): every outcome branch, and
# latencies on, between and beyond the bucket bounds.
REQUESTS = [
    ("/auth/refresh", "POST", 200, 0.0031, None, False),
    ("/auth/refresh", "POST", 200, 0.005, None, True),
    ("/oauth/token", "POST", 400, 0.0009, "refresh_token_reused", False),
    ("/auth/login", "POST", 200, 0.3, None, False),
    ("/auth/login", "POST", 401, 7.5, "invalid_credentials", False),
    ("/auth/refresh", "POST", 503, 0.25, "store_unavailable", False),
    ("/auth/refresh", "POST", 401, 0.001, "something_new", False),
    ("<unmatched>", "GET", 404, 0.0001, None, False),
    ("/auth/refresh", "POST", 200, 0.0031, None, False),
]
EVENTS = [("logout", {}), ("logout_all", {"sessions": 3}), ("refresh_token_reused", {"sessions": 1}),
          ("login", {}), ("logout_others", {"sessions": 0})]


def reference() -> bytes:
    """The same observations through prometheus-client's own objects."""
    r = CollectorRegistry()
    logins, refreshes, revocations, store_errors, requests = (
        Counter(name, doc, labels, registry=r) for name, doc, labels in COUNTERS)
    latency = Histogram(LATENCY[0], LATENCY[1], LATENCY[2], buckets=BUCKETS, registry=r)
    for route, method, status, seconds, code, grace in REQUESTS:
        latency.labels(route, method).observe(seconds)
        requests.labels(route, method, str(status)).inc()
    store_errors.labels("/auth/refresh").inc()
    for outcome in ("rotated", "grace_retry", "reused", "store_unavailable", "something_new", "rotated"):
        refreshes.labels(outcome).inc()
    logins.labels("success").inc()
    logins.labels("invalid_credentials").inc()
    revocations.labels("logout").inc()
    revocations.labels("logout_all").inc(3)
    revocations.labels("reuse").inc()
    return generate_latest(r)


def without_created_values(text: bytes) -> list[str]:
    return [re.sub(r"^(\S+_created\S*) .*$", r"\1 <time>", line) for line in text.decode().splitlines()]


def test_exposition_is_prometheus_clients() -> None:
    m = Metrics()
    assert m.multiprocess_dir is None
    for observation in REQUESTS:
        m.observe_request(*observation)
    for type, detail in EVENTS:
        m.observe_event(type, detail)
    ours, theirs = without_created_values(m.render()), without_created_values(reference())
    assert ours == theirs
    assert any(line.startswith("keyturn_http_request_duration_seconds_created") for line in ours)
