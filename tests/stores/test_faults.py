"""Faults: with a store down or stalled every endpoint that needs it answers
503 store_unavailable within a bounded time, /readyz names the store, and
the service recovers by itself when the store returns (no restart)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.conftest import Api
from tests.stores.backends import RedisServer
from tests.stores.proxy import FaultProxy, in_front_of

TIMEOUT = 0.5  # settings.store_timeout in these tests
HANG_GUARD = 15.0  # far above TIMEOUT: only catches a hang, measures nothing


async def bounded(call: Awaitable[httpx.Response]) -> httpx.Response:
    return await asyncio.wait_for(call, HANG_GUARD)


def name() -> str:
    return "u" + secrets.token_hex(6)


async def assert_unavailable(api: Api, tokens: dict[str, Any], down: str) -> None:
    """Every endpoint that needs the store that is down answers 503."""
    calls = [
        api.refresh(tokens["refresh_token"]),
        api.get("/auth/me", tokens["access_token"]),
        api.get("/auth/sessions", tokens["access_token"]),
        api.post("/auth/logout-all", tokens["access_token"]),
        api.login(tokens["username"]),
    ]
    if down == "database":
        calls.append(api.register(name()))
    for call in calls:
        r = await bounded(call)
        assert r.status_code == 503, r.text
        assert r.json()["code"] == "store_unavailable"
    r = await bounded(api.client.get("/readyz"))
    assert r.status_code == 503
    if down == "sessions":
        assert r.json()["stores"] == {"database": "ok", "sessions": "unavailable"}
    else:  # sessions live in the same database here
        assert r.json()["stores"] == {"database": "unavailable", "sessions": "unavailable"}


async def login(api: Api) -> dict[str, Any]:
    username = name()
    tokens = await api.user_and_login(username)
    tokens["username"] = username
    return tokens


async def recovered(api: Api, tokens: dict[str, Any]) -> None:
    r = await bounded(api.refresh(tokens["refresh_token"]))
    assert r.status_code == 200, r.text  # the session survived, and nothing counted as reuse
    r = await bounded(api.client.get("/readyz"))
    assert r.status_code == 200, r.text


async def test_redis_killed_then_restarted_loses_no_session(
    make_api: Callable[..., Any], redis_server: RedisServer
) -> None:
    async with make_api(session_store_url=redis_server.url, store_timeout=TIMEOUT) as api:
        tokens = await login(api)
        r = await api.refresh(tokens["refresh_token"])
        assert r.status_code == 200
        tokens.update(r.json())
        redis_server.kill()  # SIGKILL: only what AOF (fsync always) has survives
        await assert_unavailable(api, tokens, "sessions")
        redis_server.start()
        await recovered(api, tokens)


@pytest.fixture
async def redis_proxy(redis_server: RedisServer) -> AsyncIterator[FaultProxy]:
    proxy = FaultProxy("127.0.0.1", redis_server.port)
    await proxy.start()
    yield proxy
    await proxy.close()


@pytest.mark.parametrize("mode", ["refuse", "stall"])
async def test_redis_down_or_stalled(make_api: Callable[..., Any], redis_proxy: FaultProxy, mode: str) -> None:
    url = f"redis://127.0.0.1:{redis_proxy.port}/0"
    async with make_api(session_store_url=url, store_timeout=TIMEOUT) as api:
        tokens = await login(api)
        await redis_proxy.down(mode)
        await assert_unavailable(api, tokens, "sessions")
        await redis_proxy.up()
        await recovered(api, tokens)


@pytest.mark.slow  # waits out the store timeout, on the real clock, for every endpoint
@pytest.mark.parametrize("engine", ["postgresql", "mariadb"])
@pytest.mark.parametrize("mode", ["refuse", "stall"])
async def test_database_down_or_stalled(
    make_api: Callable[..., Any], clean_sql_url: Callable[[str], str], engine: str, mode: str
) -> None:
    async with in_front_of(clean_sql_url(engine)) as (proxy, url), \
            make_api(database_url=url, store_timeout=TIMEOUT, pool_timeout=TIMEOUT) as api:
        tokens = await login(api)
        await proxy.down(mode)
        await assert_unavailable(api, tokens, "database")
        await proxy.up()
        await recovered(api, tokens)


@pytest.mark.parametrize("engine", ["postgresql", "mariadb"])
async def test_pool_exhaustion_queues_then_answers_unavailable(
    clean_sql_url: Callable[[str], str], engine: str
) -> None:
    from keyturn.errors import StoreUnavailable
    from keyturn.stores.sql.store import SqlStore

    store = SqlStore.from_url(clean_sql_url(engine), pool_size=1, pool_timeout=0.2, timeout=HANG_GUARD)
    try:
        held = [await store.engine.connect()]  # pool_size: every connection the process may open
        with pytest.raises(StoreUnavailable):
            await asyncio.wait_for(store.revoke_session("x" * 22, now=0.0, reason="t"), HANG_GUARD)
        await held.pop().close()  # a slot frees: the next call gets through
        assert await store.revoke_session("x" * 22, now=0.0, reason="t") is False
        for conn in held:
            await conn.close()
    finally:
        await store.close()
