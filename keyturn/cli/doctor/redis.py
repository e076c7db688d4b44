"""The Redis session store's own settings."""

from __future__ import annotations

from keyturn.cli.doctor.check import Check, Doctor


async def redis_checks(d: Doctor) -> list[Check]:
    """Persistence and eviction: a Redis that forgets or evicts keys logs
    people out and brings revoked tokens back."""
    from keyturn.stores.redis.safety import SAFE_POLICY, read_config

    engine = d.session_engine()
    client = getattr(engine.engine, "client", None) if engine is not None else None
    if client is None or "session store" in d.unreachable:
        return []
    found = []
    aof = await read_config(client, "appendonly", "yes")
    if aof is None:
        found.append(Check("redis persistence", "warn", "CONFIG GET appendonly is refused by this server",
                           "make sure the provider keeps AOF on (appendonly yes, appendfsync everysec)"))
    elif aof != "yes":
        found.append(Check("redis persistence", "warn",
                           f"appendonly {aof}: a Redis restart loses every session (everyone is logged out) "
                           "and revocations", "set `appendonly yes` and `appendfsync everysec` in redis.conf "
                           "(CONFIG SET appendonly yes applies it now)"))
    else:
        found.append(Check("redis persistence", "ok", "appendonly yes"))
    policy = await read_config(client, "maxmemory-policy", SAFE_POLICY)
    if policy == SAFE_POLICY:
        found.append(Check("redis eviction", "ok", "maxmemory-policy noeviction"))
    else:
        what = f"maxmemory-policy {policy}" if policy else "maxmemory-policy cannot be read (CONFIG refused)"
        allowed = d.settings.redis_allow_eviction
        found.append(Check(
            "redis eviction", "warn" if allowed else "fail",
            f"{what}: sessions and revocations may be evicted"
            + ("" if allowed else "; keyturn serve refuses to start on it"),
            "set `maxmemory-policy noeviction` in redis.conf (CONFIG SET applies it now)"))
    return found
