"""Refuse a Redis that may evict keys.

A session store that silently loses keys loses revocations and rotation
state: an evicted session hash turns a stolen refresh token's "reused"
into "unknown", and an evicted denylist entry brings a revoked access token
back to life. So at start the Redis engine calls ``check_eviction_policy``:
anything but ``noeviction`` refuses to start, unless the operator passed
``KEYTURN_REDIS_ALLOW_EVICTION=true``, which only warns (loudly).
"""

from __future__ import annotations

import logging
from typing import Any

from keyturn.errors import ConfigError

log = logging.getLogger("keyturn.redis")
SAFE_POLICY = "noeviction"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def read_config(client: Any, name: str, safe: str) -> str | None:
    """``CONFIG GET name``; ``None`` where CONFIG is disabled (some managed
    services rename or forbid it). Cluster nodes that disagree: the first
    value that is not ``safe``."""
    try:
        reply = await client.config_get(name)
    except Exception as exc:  # noqa: BLE001 - redis.ResponseError and friends
        log.debug("CONFIG GET failed: %s", exc)
        return None
    values = set(_values(reply, name))
    if len(values) == 1:
        return values.pop()
    return next((v for v in sorted(values) if v != safe), None)


async def read_eviction_policy(client: Any) -> str | None:
    return await read_config(client, "maxmemory-policy", SAFE_POLICY)


def _values(reply: Any, name: str) -> list[str]:
    """The values in a reply: ``{name: value}`` from one node, or (Redis
    Cluster) ``{node: {name: value}}`` from several."""
    found: list[str] = []
    if isinstance(reply, dict):
        for key, value in reply.items():
            if isinstance(value, dict):
                found += _values(value, name)
            elif _text(key) == name:
                found.append(_text(value))
    return found


async def check_eviction_policy(client: Any, *, allow_eviction: bool = False) -> str:
    """Return the policy when safe; raise ``ConfigError`` (or, with
    ``allow_eviction``, log an error-level warning) when keys may be evicted
    or the policy cannot be read."""
    policy = await read_eviction_policy(client)
    if policy == SAFE_POLICY:
        return policy
    what = f"maxmemory-policy is {policy!r}" if policy else "maxmemory-policy cannot be read (CONFIG GET refused)"
    message = (
        f"Redis {what}: keys (sessions, revocations) may be evicted under memory pressure. "
        "Set `maxmemory-policy noeviction`, or start with KEYTURN_REDIS_ALLOW_EVICTION=true to accept the risk."
    )
    if not allow_eviction:
        raise ConfigError(message)
    log.error("UNSAFE: %s", message)
    return policy or "unknown"
