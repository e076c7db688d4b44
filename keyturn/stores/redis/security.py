"""The shared security state on Redis, next to the sessions (single node or
Cluster): throttling counters, the access-token denylist and the DPoP
``jti`` replay cache. Resource-server clients stay in the SQL database.

Keys (``p`` = ``KEYTURN_REDIS_KEY_PREFIX``):

* ``p:ctr:<key>`` — hash ``n`` (count), ``last``, ``exp``;
* ``p:{deny}:<key>`` — the entry's expiry; every denylist key shares the
  ``{deny}`` slot so one bearer check is one MGET;
* ``p:jti:<key>`` — a seen DPoP proof, until its expiry.

Expiry is kept twice: as a Redis TTL (so nothing lingers) and as a value
compared with the caller's clock (so the logic follows the injected clock,
exactly like the SQL engine).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from keyturn.core.throttle import Counter
from keyturn.stores.redis.sessions import RedisClient, RedisSessionStore, redis_guarded


_INCREMENT = """
local exp = tonumber(redis.call('HGET', KEYS[1], 'exp') or '0')
local n
if exp <= tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'n', 1)
  n = 1
else
  n = redis.call('HINCRBY', KEYS[1], 'n', 1)
end
redis.call('HSET', KEYS[1], 'last', ARGV[1], 'exp', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return n
"""

_RESERVE = """
local n = 0
if tonumber(redis.call('HGET', KEYS[1], 'exp') or '0') > tonumber(ARGV[1]) then
  n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
end
if n >= tonumber(ARGV[4]) then return -1 end
n = n + 1
redis.call('HSET', KEYS[1], 'n', n, 'last', ARGV[1], 'exp', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return n
"""

_RELEASE = """
if tonumber(redis.call('HGET', KEYS[1], 'exp') or '0') <= tonumber(ARGV[1]) then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'n') or '0') > 0 then redis.call('HINCRBY', KEYS[1], 'n', -1) end
return 1
"""

_DENY = """
local exp, ttl = tonumber(ARGV[1]), ARGV[2]
for i = 1, #KEYS do
  local old = tonumber(redis.call('GET', KEYS[i]) or '0')
  if old < exp then
    redis.call('SET', KEYS[i], ARGV[1], 'PX', ttl)
  end
end
return 1
"""

_FIRST_USE = """
local seen = tonumber(redis.call('GET', KEYS[1]) or '0')
if seen > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""


def _ttl_ms(expires_at: float, now: float) -> str:
    return str(max(1, int((expires_at - now) * 1000)))


class RedisSecurityStore:
    """CounterStore + Denylist + ReplayCache on the session store's Redis."""

    def __init__(self, client: RedisClient, *, prefix: str = "kt", timeout: float = 3.0) -> None:
        self.client = client
        self.prefix = prefix
        self.timeout = timeout
        self._increment = client.register_script(_INCREMENT)
        self._deny = client.register_script(_DENY)
        self._reserve = client.register_script(_RESERVE)
        self._release = client.register_script(_RELEASE)
        self._first_use = client.register_script(_FIRST_USE)

    @classmethod
    def beside(cls, sessions: RedisSessionStore) -> RedisSecurityStore:
        """On the same client as a ``RedisSessionStore``."""
        return cls(sessions.client, prefix=sessions.prefix, timeout=sessions.timeout)

    def _ctr(self, key: str) -> str:
        return f"{self.prefix}:ctr:{key}"

    def _deny_key(self, key: str) -> str:
        return f"{self.prefix}:{{deny}}:{key}"

    # --- counters -------------------------------------------------------------

    @redis_guarded
    async def counters(self, keys: Sequence[str], *, now: float) -> dict[str, Counter]:
        rows = await asyncio.gather(*(self.client.hmget(self._ctr(k), ["n", "last", "exp"]) for k in keys))
        out: dict[str, Counter] = {}
        for key, (n, last, exp) in zip(keys, rows, strict=True):
            if n is not None and last is not None and exp is not None and float(exp) > now:
                out[key] = Counter(int(n), float(last))
        return out

    @redis_guarded
    async def increment(self, key: str, *, now: float, expires_at: float) -> Counter:
        n = await self._increment(keys=[self._ctr(key)], args=[repr(now), repr(expires_at), _ttl_ms(expires_at, now)])
        return Counter(int(n), now)

    @redis_guarded
    async def reset(self, key: str) -> None:
        await self.client.delete(self._ctr(key))

    @redis_guarded
    async def reserve(self, key: str, *, limit: int, now: float, expires_at: float) -> Counter | None:
        n = int(await self._reserve(
            keys=[self._ctr(key)], args=[repr(now), repr(expires_at), _ttl_ms(expires_at, now), str(limit)]
        ))
        return None if n < 0 else Counter(n, now)

    @redis_guarded
    async def release(self, key: str, *, now: float) -> None:
        await self._release(keys=[self._ctr(key)], args=[repr(now)])

    # --- denylist ---------------------------------------------------------------

    @redis_guarded
    async def deny(self, keys: Sequence[str], *, now: float, expires_at: float) -> None:
        if not keys:
            return
        names = [self._deny_key(k) for k in dict.fromkeys(keys)]
        await self._deny(keys=names, args=[repr(expires_at), _ttl_ms(expires_at, now)])

    @redis_guarded
    async def any_denied(self, keys: Sequence[str], *, now: float) -> bool:
        values = await self.client.mget([self._deny_key(k) for k in keys])
        return any(v is not None and float(v) > now for v in values)

    # --- DPoP jti replay cache --------------------------------------------------

    @redis_guarded
    async def first_use(self, key: str, *, now: float, expires_at: float) -> bool:
        ok = await self._first_use(
            keys=[f"{self.prefix}:jti:{key}"], args=[repr(now), repr(expires_at), _ttl_ms(expires_at, now)]
        )
        return int(ok) == 1

    # --- housekeeping -----------------------------------------------------------

    @redis_guarded
    async def purge_security(self, *, now: float) -> int:
        """Entries expire on their own (TTL). Earlier versions also kept an
        unexpiring ``{deny}:log`` sorted set that nothing reads: drop it."""
        return int(await self.client.unlink(self._deny_key("log")))
