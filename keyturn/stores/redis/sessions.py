"""Redis session store (redis-py asyncio), single node or Redis Cluster.

Keys (``p`` = ``KEYTURN_REDIS_KEY_PREFIX``, default ``kt``):

* ``p:{<user id>}:s`` — hash of the user's unrevoked sessions: field =
  session id, value = the packed session (``keyturn.stores.redis.layout``).
  Its TTL is the longest time left to an absolute expiry among them; one
  past its own is dropped by a later login or ``purge_expired``;
* ``p:{<user id>}:r:<session id>`` — a revoked session (packed), kept until
  its absolute expiry so a later reuse is still recognised as theft;
* ``p:{<user id>}:cv`` — the user's credential version (``v``) and when it
  last changed (``at``); the rotate script reads it, so a warm refresh stays
  one round trip. Absent = version 0;
* ``p:sid:<session id>`` — the owner's user id, written once at login with
  the session's TTL. Only a caller that does not know the owner reads it.

The ``{user id}`` hash tag puts everything of one user in one Cluster slot,
so create-with-eviction, rotate, revoke and revoke-all are each one Lua
script in one slot. The refresh token carries only the session id; the
service passes the owner (``user_id=``) from its cache of immutable session
facts, so a warm refresh is one round trip (EVALSHA). Sessions written by the
previous layout (a hash per session ``p:{<user id>}:s:<session id>`` and a
sorted set ``p:{<user id>}:u``) are moved into the user's hash by the first
script that touches them (``keyturn.stores.redis.lua``). See docs/engines.md.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any, ParamSpec, TypeAlias, TypeVar
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis import exceptions as rx
from redis.asyncio.cluster import ClusterNode, RedisCluster

from keyturn.config import Settings
from keyturn.core.sessions import Session, under_credentials
from keyturn.errors import ConfigError, StoreUnavailable
from keyturn.stores.clocks import ClockReading, read_offset
from keyturn.store_urls import scheme_name, scheme_of
from keyturn.stores.guard import bounded
from keyturn.stores.protocols import Rotated
from keyturn.stores.redis import layout, lua
from keyturn.stores.redis.layout import num as _num
from keyturn.stores.redis.layout import opt as _opt
from keyturn.stores.redis.pipelining import AutoPipeline

RedisClient: TypeAlias = "AutoPipeline | aioredis.Redis | aioredis.RedisCluster"
P = ParamSpec("P")
T = TypeVar("T")

# Infrastructure faults: the server is down, unreachable, loading, failing
# over, or the cluster has an uncovered slot. Fail closed with a 503.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    rx.ConnectionError, rx.TimeoutError, rx.ClusterError, rx.RedisClusterException,
    rx.TryAgainError, rx.ReadOnlyError, OSError, asyncio.TimeoutError,
)


def _connection_lost(exc: BaseException) -> bool:
    """A pooled connection that died with its server: retried once."""
    return isinstance(exc, rx.ConnectionError) and not isinstance(exc, rx.TimeoutError)


def redis_guarded(fn: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """Bound a store method (of an object with ``timeout`` and ``client``)
    in time and turn every Redis failure into ``StoreUnavailable``: fail
    closed, never a 500 (see ``keyturn.stores.guard``)."""

    @functools.wraps(fn)
    async def inner(*args: P.args, **kwargs: P.kwargs) -> T:
        store = args[0]

        async def drop_idle_connections() -> None:
            # The server that held them is gone: every idle connection in
            # the pool is as dead as the one that just failed.
            pool = getattr(getattr(store, "client", None), "connection_pool", None)
            if pool is not None:
                await pool.disconnect(inuse_connections=False)

        return await bounded(
            lambda: fn(*args, **kwargs), store=type(store).__name__, timeout=getattr(store, "timeout"),
            faults=_UNAVAILABLE, connection_lost=_connection_lost, before_retry=drop_idle_connections,
        )

    return inner


def _judged(s: Session, cv: list[Any]) -> Session:
    """``cv``: the user's credential version hash (v, at, x = claims and scope)."""
    grants = None if len(cv) < 3 or cv[2] is None else _text(cv[2])
    return under_credentials(replace(s, grants=grants), int(cv[0] or 0), None if cv[1] is None else float(cv[1]))


def _text(raw: Any) -> str:
    return raw if isinstance(raw, str) else bytes(raw).decode()


def open_client(url: str, *, timeout: float, pool_size: int = 64, pool_timeout: float = 2.0) -> AutoPipeline:
    """``redis://``, ``rediss://``; ``redis+cluster://h:p,h:p`` or
    ``?cluster=1`` for Redis Cluster.

    A single node gets a blocking pool: when every connection is busy a
    request waits up to ``pool_timeout`` for one (then 503), instead of
    failing at once. Commands that concurrent requests issue in one loop
    iteration share one round trip (see ``keyturn.stores.redis.pipelining``)."""
    opts: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    scheme = scheme_of(url)
    if scheme is None or scheme.family != "redis":
        raise ConfigError(f"KEYTURN_SESSION_STORE_URL: not a Redis URL: {scheme_name(url)!r}")
    if scheme.cluster:
        userinfo, _, hosts = parts.netloc.rpartition("@")
        nodes = []
        for hostport in hosts.split(","):
            host, _, port = hostport.rpartition(":")
            if not host or not port.isdigit():
                raise ConfigError(f"KEYTURN_SESSION_STORE_URL: bad cluster node {hostport!r}")
            nodes.append(ClusterNode(host, int(port)))
        if userinfo:
            user, _, password = userinfo.partition(":")
            opts["username"] = unquote(user) or None
            opts["password"] = unquote(password) or None
        if scheme.tls:
            opts["ssl"] = True
        return AutoPipeline(RedisCluster(startup_nodes=nodes, **opts))
    if query.pop("cluster", "0").lower() in ("1", "true", "yes"):
        plain = urlunsplit((parts.scheme, parts.netloc, "", urlencode(query), ""))
        return AutoPipeline(RedisCluster.from_url(plain, **opts))
    pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=pool_size, timeout=pool_timeout, **opts)
    return AutoPipeline(aioredis.Redis(connection_pool=pool))


class RedisSessionStore:
    """SessionStore on Redis. Keys of one user share one Cluster slot."""

    def __init__(
        self, client: RedisClient, *, prefix: str = "kt", timeout: float = 3.0, allow_eviction: bool = False
    ) -> None:
        if "{" in prefix or "}" in prefix:
            raise ConfigError("KEYTURN_REDIS_KEY_PREFIX: must not contain braces (they select the Cluster slot)")
        self.client = client
        self.prefix = prefix
        self.timeout = timeout
        self.allow_eviction = allow_eviction  # KEYTURN_REDIS_ALLOW_EVICTION
        self.clock_offset = 0.0  # Redis's clock minus ours, as last measured
        self._create = client.register_script(lua.CREATE)
        self._rotate = client.register_script(lua.ROTATE)
        self._revoke = client.register_script(lua.REVOKE)
        self._revoke_user = client.register_script(lua.REVOKE_USER)
        self._read = client.register_script(lua.READ)
        self._purge = client.register_script(lua.PURGE)
        self._bump = client.register_script(lua.BUMP)

    @classmethod
    def from_settings(cls, settings: Settings, url: str) -> RedisSessionStore:
        client = open_client(
            # Redis connections are cheap; enough that requests rarely queue.
            url, timeout=settings.store_timeout, pool_size=max(settings.pool_size, 256),
            pool_timeout=settings.pool_timeout,
        )
        return cls(
            client, prefix=settings.redis_key_prefix, timeout=settings.store_timeout,
            allow_eviction=settings.redis_allow_eviction,
        )

    # --- keys -----------------------------------------------------------------

    def _hash(self, user_id: str) -> str:
        return f"{self.prefix}:{{{user_id}}}:s"

    def _old_prefix(self, user_id: str) -> str:
        """Session hashes of the previous layout: ``_old_prefix(uid) + sid``."""
        return f"{self.prefix}:{{{user_id}}}:s:"

    def _old_zset(self, user_id: str) -> str:
        return f"{self.prefix}:{{{user_id}}}:u"

    def _cv(self, user_id: str) -> str:
        return f"{self.prefix}:{{{user_id}}}:cv"

    def _user_keys(self, user_id: str) -> list[str]:
        """KEYS of every script (see ``keyturn.stores.redis.lua``)."""
        return [self._hash(user_id), self._old_zset(user_id), self._cv(user_id)]

    def _owner_key(self, sid: str) -> str:
        return f"{self.prefix}:sid:{sid}"

    async def _owner(self, sid: str, hint: str | None) -> str | None:
        if hint is not None:
            return hint
        raw = await self.client.get(self._owner_key(sid))
        return None if raw is None else _text(raw)

    # --- lifecycle ------------------------------------------------------------

    @redis_guarded
    async def migrate(self) -> None:
        """Nothing to migrate up front (sessions of the previous layout are
        moved on first touch): check the server answers, and refuse one that
        may evict keys (see ``keyturn.stores.redis.safety``); scripts load on
        first use (EVALSHA, reloaded on NOSCRIPT after a restart or failover)."""
        from keyturn.stores.redis.safety import check_eviction_policy

        await self.client.ping()
        await check_eviction_policy(self.client, allow_eviction=self.allow_eviction)

    @redis_guarded
    async def ping(self) -> None:
        await self.client.ping()

    @redis_guarded
    async def server_time(self) -> float:
        seconds, micros = await self.client.time()
        return float(seconds) + float(micros) / 1e6

    async def measure_clock(self) -> ClockReading:
        reading = await read_offset(self.server_time, time.time)
        self.clock_offset = reading.offset
        return reading

    async def close(self) -> None:
        close = getattr(self.client, "aclose", None)
        await (close() if close is not None else self.client.close())

    # --- sessions -------------------------------------------------------------

    @redis_guarded
    async def create_session(self, session: Session, *, max_sessions: int, now: float) -> list[str]:
        s = session
        ttl_ms = max(1, int((s.absolute_expires_at - now) * 1000))
        # The owner pointer first: if the script then fails, a pointer to
        # nothing is harmless; a session nobody can find by id would not be.
        await self.client.set(self._owner_key(s.id), s.user_id, px=ttl_ms)
        evicted = await self._create(
            keys=self._user_keys(s.user_id),
            args=[
                self._old_prefix(s.user_id), _num(now), max_sessions, ttl_ms, s.id, s.grants or "", *layout.fields(s),
            ],
        )
        return [_text(e) for e in evicted]

    @redis_guarded
    async def get_session(self, session_id: str, *, user_id: str | None = None) -> Session | None:
        owner = await self._owner(session_id, user_id)
        if owner is None:
            return None
        raw, cv = await self._read(keys=self._user_keys(owner), args=[self._old_prefix(owner), session_id])
        if raw is None:
            return None
        return _judged(layout.unpack(session_id, owner, bytes(raw)), cv)

    @redis_guarded
    async def rotate(
        self,
        session_id: str,
        expected_generation: int,
        *,
        now: float,
        idle_expires_at: float,
        ip: str | None,
        user_agent: str | None,
        user_id: str | None = None,
        to_generation: int | None = None,
    ) -> Rotated | None:
        owner = await self._owner(session_id, user_id)
        if owner is None:
            return None
        new = expected_generation + 1 if to_generation is None else to_generation
        # Wall clock, not the injected one, in Redis's time: the deadline is
        # compared with the store's clock (see lua.ROTATE); it is when this
        # call gives up.
        sent = time.time() + self.clock_offset
        won = await self._rotate(
            keys=self._user_keys(owner),
            args=[
                self._old_prefix(owner), str(expected_generation), _num(now), _num(idle_expires_at), _opt(ip),
                _opt(user_agent), session_id, str(new), _num(sent), _num(sent + self.timeout),
            ],
        )
        if not isinstance(won, list):
            return None
        return Rotated(None if won[1] is None else _text(won[1]))

    @redis_guarded
    async def set_grants(self, user_id: str, grants: str | None) -> None:
        """Field ``x`` of the user's credential hash, which the rotate and
        read scripts return beside the version."""
        if grants is None:
            await self.client.hdel(self._cv(user_id), "x")
        else:
            await self.client.hset(self._cv(user_id), "x", grants)

    @redis_guarded
    async def revoke_session(
        self, session_id: str, *, now: float, reason: str, user_id: str | None = None
    ) -> bool:
        owner = await self._owner(session_id, user_id)
        if owner is None:
            return False
        done = await self._revoke(
            keys=self._user_keys(owner), args=[self._old_prefix(owner), _num(now), reason, session_id]
        )
        return int(done) == 1

    @redis_guarded
    async def revoke_user(self, user_id: str, *, now: float, reason: str, keep: str | None = None) -> list[str]:
        ids = await self._revoke_user(
            keys=self._user_keys(user_id), args=[self._old_prefix(user_id), _num(now), reason, keep or ""]
        )
        return [_text(i) for i in ids]

    async def _sessions_of(self, user_id: str) -> list[Session]:
        flat, cv = await self._read(keys=self._user_keys(user_id), args=[self._old_prefix(user_id), ""])
        return [
            _judged(layout.unpack(_text(sid), user_id, bytes(raw)), cv)
            for sid, raw in zip(flat[0::2], flat[1::2], strict=True)
        ]

    @redis_guarded
    async def list_sessions(self, user_id: str, *, now: float) -> list[Session]:
        live = [s for s in await self._sessions_of(user_id) if s.is_live(now)]
        return sorted(live, key=lambda s: (s.last_used_at, s.created_at, s.id), reverse=True)

    @redis_guarded
    async def credential_version(self, user_id: str) -> int:
        return int(await self.client.hget(self._cv(user_id), "v") or 0)

    @redis_guarded
    async def bump_credential_version(self, user_id: str, *, now: float, keep: str | None = None) -> int:
        version = await self._bump(
            keys=self._user_keys(user_id), args=[self._old_prefix(user_id), _num(now), keep or ""]
        )
        return int(version)

    # --- maintenance (not on a request path: SCAN is fine here) ----------------

    async def _scan_users(self) -> dict[str, list[str]]:
        """Every user with sessions, each with the ids of its revoked
        sessions and of its sessions still in the previous layout."""
        users: dict[str, list[str]] = {}
        start = len(self.prefix) + 2
        async for key in self.client.scan_iter(match=f"{self.prefix}:{{*}}:s", count=1000):
            users.setdefault(_text(key)[start:-3], [])
        async for key in self.client.scan_iter(match=f"{self.prefix}:{{*}}:[rs]:*", count=1000):
            name = _text(key)
            uid, sid = name[start : name.rindex("}:")], name.rsplit(":", 1)[1]
            users.setdefault(uid, []).append(sid)
        return users

    @redis_guarded
    async def list_all_sessions(self, *, now: float, limit: int = 1000) -> list[Session]:
        found: list[Session] = []
        for uid in await self._scan_users():
            # The read script moves the user's unrevoked sessions of the
            # previous layout first.
            found += [s for s in await self._sessions_of(uid) if s.is_live(now)]
        return sorted(found, key=lambda s: s.last_used_at, reverse=True)[:limit]

    async def purge_expired(self, *, now: float) -> int:
        """Delete sessions past their absolute expiry. Redis expires a
        revoked session's key, and a user's hash when its last session ends,
        by itself; this drops the ended sessions of users who still have
        others, and catches up when the service's clock runs ahead."""
        async with asyncio.timeout(max(self.timeout, 30.0)):
            try:
                n = 0
                for uid, sids in (await self._scan_users()).items():
                    gone = await self._purge(keys=self._user_keys(uid), args=[self._old_prefix(uid), _num(now), *sids])
                    if gone:
                        await self.client.delete(*(self._owner_key(_text(sid)) for sid in gone))
                    n += len(gone)
                return n
            except _UNAVAILABLE as exc:
                raise StoreUnavailable() from exc
