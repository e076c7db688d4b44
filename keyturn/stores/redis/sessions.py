"""Redis session store (redis-py asyncio), single node or Redis Cluster.

Keys (``p`` = ``KEYTURN_REDIS_KEY_PREFIX``, default ``kt``):

* ``p:{<user id>}:s:<session id>`` — one hash per session; its TTL is the
  time left to the session's absolute expiry (revoked sessions stay until
  then, so a later reuse is still recognised as theft);
* ``p:{<user id>}:u`` — sorted set of the user's unrevoked sessions, score =
  last use: listing and least-recently-used eviction;
* ``p:{<user id>}:cv`` — the user's credential version (``v``) and when it
  last changed (``at``); the rotate script reads it, so a warm refresh stays
  one round trip. Absent = version 0;
* ``p:sid:<session id>`` — the owner's user id, written once at login with
  the same TTL. Only a caller that does not know the owner reads it.

The ``{user id}`` hash tag puts everything of one user in one Cluster slot,
so create-with-eviction, rotate, revoke and revoke-all are each one Lua
script in one slot. The refresh token carries only the session id; the
service passes the owner (``user_id=``) from its cache of immutable session
facts, so a warm refresh is one round trip (EVALSHA). See docs/engines.md.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeAlias, TypeVar, cast
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis import exceptions as rx
from redis.asyncio.cluster import ClusterNode, RedisCluster

from keyturn.config import Settings
from keyturn.core.sessions import Session, under_credentials
from keyturn.errors import ConfigError, StoreUnavailable
from keyturn.stores.guard import bounded
from keyturn.stores.redis import lua
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


def _num(x: float) -> str:
    return repr(float(x))


def _opt(value: str | None) -> str:
    """NULL as ``""``, a value as ``"v" + value`` (see ``keyturn.stores.redis.lua``)."""
    return "" if value is None else "v" + value


def _text(h: dict[bytes, bytes], field: bytes) -> str | None:
    raw = h.get(field)
    return None if raw is None else raw.decode()


def _session(sid: str, h: dict[bytes, bytes]) -> Session:
    rvat = h.get(b"rvat")
    return Session(
        id=sid,
        user_id=h[b"uid"].decode(),
        salt=h[b"salt"],
        created_at=float(h[b"cat"]),
        absolute_expires_at=float(h[b"aexp"]),
        idle_expires_at=float(h[b"iexp"]),
        generation=int(h[b"gen"]),
        rotated_at=float(h[b"rat"]),
        last_used_at=float(h[b"lat"]),
        login_ip=_text(h, b"lip"),
        user_agent=_text(h, b"ua"),
        last_ip=_text(h, b"llip"),
        last_user_agent=_text(h, b"lua"),
        dpop_jkt=_text(h, b"jkt"),
        revoked_at=None if rvat is None else float(rvat),
        revoke_reason=_text(h, b"rvr"),
        credential_version=int(h.get(b"cv", b"0")),
    )


def _judged(s: Session, cv: list[Any]) -> Session:
    """``cv``: HMGET of the user's credential version hash (v, at)."""
    return under_credentials(s, int(cv[0] or 0), None if cv[1] is None else float(cv[1]))


def _pairs(flat: list[bytes]) -> dict[bytes, bytes]:
    return dict(zip(flat[0::2], flat[1::2], strict=True))


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
    scheme = parts.scheme.lower()
    if scheme in ("redis+cluster", "rediss+cluster"):
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
        if scheme.startswith("rediss"):
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
        self._create = client.register_script(lua.CREATE)
        self._rotate = client.register_script(lua.ROTATE)
        self._revoke = client.register_script(lua.REVOKE)
        self._revoke_user = client.register_script(lua.REVOKE_USER)
        self._list = client.register_script(lua.LIST)
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

    def _user_prefix(self, user_id: str) -> str:
        return f"{self.prefix}:{{{user_id}}}:s:"

    def _hash(self, user_id: str, sid: str) -> str:
        return self._user_prefix(user_id) + sid

    def _zset(self, user_id: str) -> str:
        return f"{self.prefix}:{{{user_id}}}:u"

    def _cv(self, user_id: str) -> str:
        return f"{self.prefix}:{{{user_id}}}:cv"

    def _owner_key(self, sid: str) -> str:
        return f"{self.prefix}:sid:{sid}"

    async def _owner(self, sid: str, hint: str | None) -> str | None:
        if hint is not None:
            return hint
        raw = await self.client.get(self._owner_key(sid))
        return None if raw is None else raw if isinstance(raw, str) else raw.decode()

    # --- lifecycle ------------------------------------------------------------

    @redis_guarded
    async def migrate(self) -> None:
        """Nothing to migrate: check the server answers, and refuse one that
        may evict keys (see ``keyturn.stores.redis.safety``); scripts load on first use
        (EVALSHA, reloaded on NOSCRIPT after a restart or failover)."""
        from keyturn.stores.redis.safety import check_eviction_policy

        await self.client.ping()
        await check_eviction_policy(self.client, allow_eviction=self.allow_eviction)

    @redis_guarded
    async def ping(self) -> None:
        await self.client.ping()

    async def close(self) -> None:
        close = getattr(self.client, "aclose", None)
        await (close() if close is not None else self.client.close())

    # --- sessions -------------------------------------------------------------

    @redis_guarded
    async def create_session(self, session: Session, *, max_sessions: int, now: float) -> list[str]:
        s = session
        ttl_ms = max(1, int((s.absolute_expires_at - now) * 1000))
        fields: list[Any] = [
            "sid", s.id, "uid", s.user_id, "salt", s.salt, "gen", str(s.generation), "cat", _num(s.created_at),
            "rat", _num(s.rotated_at), "lat", _num(s.last_used_at), "iexp", _num(s.idle_expires_at),
            "aexp", _num(s.absolute_expires_at), "cv", str(s.credential_version),
        ]
        for name, value in (
            ("lip", s.login_ip), ("ua", s.user_agent), ("llip", s.last_ip), ("lua", s.last_user_agent),
            ("jkt", s.dpop_jkt), ("rvr", s.revoke_reason),
        ):
            if value is not None:
                fields += [name, value]
        if s.revoked_at is not None:
            fields += ["rvat", _num(s.revoked_at)]
        # The owner pointer first: if the script then fails, a pointer to
        # nothing is harmless; a session nobody can find by id would not be.
        await self.client.set(self._owner_key(s.id), s.user_id, px=ttl_ms)
        evicted = await self._create(
            keys=[self._hash(s.user_id, s.id), self._zset(s.user_id)],
            args=[self._user_prefix(s.user_id), _num(now), max_sessions, ttl_ms, s.id, _num(s.last_used_at), *fields],
        )
        return [bytes(e).decode() for e in evicted]

    @redis_guarded
    async def get_session(self, session_id: str, *, user_id: str | None = None) -> Session | None:
        owner = await self._owner(session_id, user_id)
        if owner is None:
            return None
        h = cast("dict[bytes, bytes]", await self.client.hgetall(self._hash(owner, session_id)))
        if not h:
            return None
        return _judged(_session(session_id, h), await self.client.hmget(self._cv(owner), "v", "at"))

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
    ) -> bool:
        owner = await self._owner(session_id, user_id)
        if owner is None:
            return False
        new = expected_generation + 1 if to_generation is None else to_generation
        # Wall clock, not the injected one: the deadline is compared with the
        # store's clock (see lua.ROTATE); it is when this call gives up.
        sent = time.time()
        won = await self._rotate(
            keys=[self._hash(owner, session_id), self._zset(owner), self._cv(owner)],
            args=[
                str(expected_generation), _num(now), _num(idle_expires_at), _opt(ip), _opt(user_agent),
                session_id, str(new), _num(sent), _num(sent + self.timeout),
            ],
        )
        return int(won) == 1

    @redis_guarded
    async def revoke_session(
        self, session_id: str, *, now: float, reason: str, user_id: str | None = None
    ) -> bool:
        owner = await self._owner(session_id, user_id)
        if owner is None:
            return False
        done = await self._revoke(
            keys=[self._hash(owner, session_id), self._zset(owner)], args=[_num(now), reason, session_id]
        )
        return int(done) == 1

    @redis_guarded
    async def revoke_user(self, user_id: str, *, now: float, reason: str, keep: str | None = None) -> list[str]:
        ids = await self._revoke_user(
            keys=[self._zset(user_id)], args=[self._user_prefix(user_id), _num(now), reason, keep or ""]
        )
        return [bytes(i).decode() for i in ids]

    @redis_guarded
    async def list_sessions(self, user_id: str, *, now: float) -> list[Session]:
        rows = await self._list(keys=[self._zset(user_id)], args=[self._user_prefix(user_id)])
        cv = await self.client.hmget(self._cv(user_id), "v", "at")
        found = [_judged(_session(h[b"sid"].decode(), h), cv) for h in (_pairs(r) for r in rows)]
        return [s for s in found if s.is_live(now)]  # already most recently used first

    @redis_guarded
    async def credential_version(self, user_id: str) -> int:
        return int(await self.client.hget(self._cv(user_id), "v") or 0)

    @redis_guarded
    async def bump_credential_version(self, user_id: str, *, now: float, keep: str | None = None) -> int:
        version = await self._bump(
            keys=[self._cv(user_id), self._hash(user_id, keep or "")], args=[_num(now), keep or ""]
        )
        return int(version)

    # --- maintenance (not on a request path: SCAN is fine here) ----------------

    async def _scan_sessions(self) -> list[str]:
        keys: list[str] = []
        async for key in self.client.scan_iter(match=f"{self.prefix}:{{*}}:s:*", count=1000):
            keys.append(bytes(key).decode())
        return keys

    @redis_guarded
    async def list_all_sessions(self, *, now: float, limit: int = 1000) -> list[Session]:
        found: list[Session] = []
        for key in await self._scan_sessions():
            h = cast("dict[bytes, bytes]", await self.client.hgetall(key))
            if h:
                s = _session(h[b"sid"].decode(), h)
                s = _judged(s, await self.client.hmget(self._cv(s.user_id), "v", "at"))
                if s.is_live(now):
                    found.append(s)
        return sorted(found, key=lambda s: s.last_used_at, reverse=True)[:limit]

    async def purge_expired(self, *, now: float) -> int:
        """Delete sessions past their absolute expiry. Redis expires them by
        itself; this catches up when the service's clock runs ahead."""
        async with asyncio.timeout(max(self.timeout, 30.0)):
            try:
                n = 0
                for key in await self._scan_sessions():
                    uid = key[len(self.prefix) + 2 : key.index("}:s:")]
                    sid = key.rsplit(":", 1)[1]
                    if int(await self._purge(keys=[key, self._zset(uid)], args=[_num(now), sid])):
                        await self.client.delete(self._owner_key(sid))
                        n += 1
                return n
            except _UNAVAILABLE as exc:
                raise StoreUnavailable() from exc

