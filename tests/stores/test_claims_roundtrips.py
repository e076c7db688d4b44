"""Claims cost the refresh no round trip: a warm refresh of a user with
claims and scope is still one store round trip (the rotate returns them),
counted at a TCP proxy in front of each server (as bench/roundtrips.py);
and sessions on Redis beside users in SQL carry them."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from keyturn.clock import FrozenClock
from keyturn.config import Settings
from keyturn.service.wiring import build_runtime
from keyturn.stores.redis.bundle import redis_session_engine_on
from keyturn.stores.redis.sessions import RedisSessionStore, open_client
from keyturn.stores.sql.bundle import sql_stores_on
from keyturn.stores.sql.store import SqlStore
from tests.conftest import PASSWORD
from tests.stores.conftest import _wipe_redis, unique_prefix
from tests.stores.proxy import FaultProxy, via

IP, UA = "203.0.113.7", "ua"


@pytest.mark.parametrize("engine", ["postgresql", "mariadb", "redis"])
async def test_a_warm_refresh_with_claims_is_one_round_trip(
    engine: str, request: pytest.FixtureRequest, make_settings: Callable[..., Settings],
    clean_sql_url: Callable[[str], str],
) -> None:
    url = request.getfixturevalue("redis_url") if engine == "redis" else clean_sql_url(engine)
    target = urlsplit(url)
    proxy = FaultProxy(target.hostname or "127.0.0.1", target.port or 0)
    await proxy.start()
    prefix = unique_prefix()
    if engine == "redis":
        settings = make_settings(session_store_url=via(url, proxy.port), redis_key_prefix=prefix)
    else:
        settings = make_settings(database_url=via(url, proxy.port))
    rt = build_runtime(settings, clock=FrozenClock())
    await rt.start()
    try:
        name = f"rt{secrets.token_hex(4)}"
        await rt.service.create_user(name, PASSWORD)
        await rt.service.set_user_claims(name, claims={"roles": ["admin"], "tenant": "acme"}, scope="read write")
        pair = await rt.service.login(name, PASSWORD, ip=IP, user_agent=UA)
        for _ in range(3):  # every cache warm, statements prepared on the connection
            pair = await rt.service.refresh(pair.refresh_token, ip=IP, user_agent=UA)
        before = proxy.requests
        pair = await rt.service.refresh(pair.refresh_token, ip=IP, user_agent=UA)
        assert proxy.requests - before == 1
        claims = await rt.service.verify_access(pair.access_token)
        assert (claims.extra, claims.scope) == ({"roles": ["admin"], "tenant": "acme"}, "read write")
    finally:
        if isinstance(rt.stores.sessions, RedisSessionStore):
            await _wipe_redis(rt.stores.sessions)
        await rt.close()
        await proxy.close()


async def test_sessions_on_redis_with_users_in_sql(
    tmp_path: Path, redis_url: str, make_settings: Callable[..., Settings], clock: FrozenClock,
) -> None:
    sql = SqlStore.from_url(f"sqlite:///{tmp_path}/users.db")
    await sql.migrate()
    rstore = RedisSessionStore(open_client(redis_url, timeout=5.0), prefix=unique_prefix(), timeout=5.0)
    stores = sql_stores_on(sql).with_sessions(redis_session_engine_on(rstore))
    rt = build_runtime(make_settings(), clock=clock, stores=stores)
    await rt.start()
    try:
        await rt.service.create_user("alice", PASSWORD)
        pair = await rt.service.login("alice", PASSWORD, ip=IP, user_agent=UA)
        await rt.service.set_user_claims("alice", claims={"roles": ["admin"]}, scope="read")
        assert (await sql.user_by_name("alice")).claims == {"roles": ["admin"]}  # type: ignore[union-attr]
        pair = await rt.service.refresh(pair.refresh_token, ip=IP, user_agent=UA)
        claims: Any = await rt.service.check_access(pair.access_token)
        assert (claims.extra, claims.scope, claims.client_id) == ({"roles": ["admin"]}, "read", "keyturn-app")
        issued = await rt.service.issue_session("ext-1", claims={"plan": "pro"}, ip=IP, user_agent=UA, client_id="kc_x")
        pair = await rt.service.refresh(issued.refresh_token, ip=IP, user_agent=UA)
        claims = await rt.service.check_access(pair.access_token)
        assert (claims.sub, claims.extra, claims.client_id) == ("ext-1", {"plan": "pro"}, "kc_x")
    finally:
        await _wipe_redis(rstore)
        await rt.close()
