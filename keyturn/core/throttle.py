"""Login and refresh throttling as pure functions of counters and ``now``.

Two kinds of counter (docs/security.md, "Login and refresh throttling": by
default 10 consecutive failures for one account, 20 a minute from one
address):

* per account, *consecutive* failures: past ``max_failures`` each further
  attempt must wait a delay that doubles per failure, capped at
  ``max_delay``. Attempts made while waiting are refused *without* being
  counted, so an attacker spraying one account from many addresses gets one
  guess per delay, and the real user is kept out at most ``max_delay``
  after the attacker's last guess (a soft lock, never a hard one);
* per client address, failures in the current fixed one-minute window.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

WINDOW = 60.0
ACCOUNT_MEMORY = 86_400.0  # a failure streak is forgotten a day after its last failure


@dataclass(frozen=True, slots=True)
class Counter:
    count: int
    last_at: float


def account_delay(counter: Counter | None, now: float, *, max_failures: int, max_delay: float) -> float:
    """Seconds the account must still wait before the next attempt (0 = go)."""
    if counter is None or counter.count < max_failures:
        return 0.0
    over = counter.count - max_failures
    delay = min(float(max_delay), 2.0 ** min(over, 30))
    return max(0.0, counter.last_at + delay - now)


def window_start(now: float, window: float = WINDOW) -> float:
    return now - (now % window)


def window_delay(count: int, limit: int, now: float, window: float = WINDOW) -> float:
    """Seconds until the current window ends once ``limit`` is reached."""
    if count < limit:
        return 0.0
    return max(0.0, window_start(now, window) + window - now)


def address_key(ip: str | None) -> str:
    """Who an address is for rate limits: an IPv4 address, or its IPv6 /64
    (one subscriber usually holds a whole /64, so per-address limits on
    IPv6 would be free to step around)."""
    if not ip:
        return "-"
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return "-"
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.ip_network(f"{addr}/64", strict=False))
    return str(addr)


def window_key(kind: str, ip: str | None, now: float) -> str:
    return f"{kind}:{address_key(ip)}:{int(window_start(now))}"


def account_key(username: str) -> str:
    """Keyed by the normalised username whether or not the account exists,
    so throttling tells nothing about which names are registered."""
    import hashlib

    return "acct:" + hashlib.sha256(username.encode("utf-8")).hexdigest()[:40]
