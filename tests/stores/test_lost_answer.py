"""A rotation committed whose answer was lost is not theft, however long the
outage (docs/concepts.md, "Lost answers"): the same client's retry of the
token it presented gets the successor recomputed at any time while that
successor has never been presented; an older token, or the previous one
from another client, is still reuse. On every engine, and through a
network that drops the store's replies on the networked ones."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from keyturn.clock import FrozenClock
from keyturn.errors import RefreshTokenReused, SessionRevoked
from keyturn.service.wiring import Runtime
from tests.conftest import PASSWORD, Api
from tests.stores.backends import RedisServer
from tests.stores.proxy import FaultProxy, in_front_of
from tests.stores.test_faults import bounded, login

IP, UA = "203.0.113.7", "app/1.0"
LATE = 3600.0  # an hour after the rotation: far outside the 10 s grace window


async def start(rt: Runtime) -> Any:
    await rt.service.create_user("alice", PASSWORD)
    return await rt.service.login("alice", PASSWORD, ip=IP, user_agent=UA)


async def reuse_events(rt: Runtime) -> list[Any]:
    return [e for e in await rt.stores.events.list_events() if e.type == "refresh_token_reused"]


async def test_a_lost_answer_retried_after_the_window_gets_the_successor(
    make_runtime: Callable[..., Any], clock: FrozenClock
) -> None:
    rt = await make_runtime()
    pair = await start(rt)
    clock.advance(1)
    lost = await rt.service.refresh(pair.refresh_token, ip=IP, user_agent=UA)  # committed; the client never hears
    clock.advance(LATE)
    retry = await rt.service.refresh(pair.refresh_token, ip=IP, user_agent=UA)
    assert retry.refresh_token == lost.refresh_token  # the same successor, recomputed
    again = await rt.service.refresh(pair.refresh_token, ip=IP, user_agent=UA)  # that answer was lost too
    assert again.refresh_token == lost.refresh_token
    nxt = await rt.service.refresh(retry.refresh_token, ip=IP, user_agent=UA)
    assert nxt.refresh_token not in (pair.refresh_token, lost.refresh_token)
    assert await reuse_events(rt) == []
    late = [e for e in await rt.stores.events.list_events() if e.type == "refresh_retry_late"]
    assert len(late) == 2  # the trace each late retry leaves
    session = await rt.stores.sessions.get_session(pair.session_id)
    assert session is not None and session.revoked_at is None and session.generation == 2


@pytest.mark.parametrize("who", [{"ip": "198.51.100.66", "user_agent": UA}, {"ip": IP, "user_agent": "curl/8"}])
async def test_the_previous_token_from_another_client_after_the_window_is_theft(
    make_runtime: Callable[..., Any], clock: FrozenClock, who: dict[str, str]
) -> None:
    """Another network, or the same network with another user agent: the
    late retry is only for the client whose request rotated."""
    rt = await make_runtime()
    pair = await start(rt)
    live = await rt.service.refresh(pair.refresh_token, ip=IP, user_agent=UA)
    clock.advance(LATE)
    with pytest.raises(RefreshTokenReused):
        await rt.service.refresh(pair.refresh_token, **who)
    with pytest.raises(SessionRevoked):
        await rt.service.refresh(live.refresh_token, ip=IP, user_agent=UA)
    assert len(await reuse_events(rt)) == 1


async def test_an_older_token_from_the_same_client_is_theft(make_runtime: Callable[..., Any], clock: FrozenClock) -> None:
    """Two generations back: the successor of that token was presented (the
    session moved past it), so nobody retrying can still be waiting for it."""
    rt = await make_runtime()
    pair = await start(rt)
    first = await rt.service.refresh(pair.refresh_token, ip=IP, user_agent=UA)
    clock.advance(LATE)
    await rt.service.refresh(first.refresh_token, ip=IP, user_agent=UA)
    with pytest.raises(RefreshTokenReused):
        await rt.service.refresh(pair.refresh_token, ip=IP, user_agent=UA)


# --- through a network that drops the store's replies ----------------------------

TIMEOUT = 0.5  # settings.store_timeout here


async def answered(api: Api, token: str) -> httpx.Response:
    """The client's retries: a 503 (a pooled connection the outage killed)
    is retried, as any client does; nothing else is."""
    for _ in range(5):
        r = await bounded(api.refresh(token))
        if r.status_code != 503:
            break
    return r


async def lost_then_retried(api: Api, proxy: FaultProxy) -> None:
    tokens = await login(api)
    api.clock.advance(1)
    r = await bounded(api.refresh(tokens["refresh_token"]))  # scripts loaded, statements prepared
    assert r.status_code == 200, r.text
    tokens.update(r.json())
    api.clock.advance(60)
    # From the rotation on (the only store call naming the session: its
    # facts are cached since the login), every reply is lost.
    proxy.drop_replies(after=tokens["session_id"].encode())
    r = await bounded(api.refresh(tokens["refresh_token"]))
    assert r.status_code == 503, r.text
    assert proxy.mode == "drop_replies"  # the rotation reached the store; its answer never came back
    api.clock.advance(60)  # the store stays unreachable far longer than the grace window
    await proxy.up()
    r = await answered(api, tokens["refresh_token"])
    assert r.status_code == 200, r.text  # not refresh_token_reused
    r = await bounded(api.refresh(r.json()["refresh_token"]))
    assert r.status_code == 200, r.text  # the session lives on
    events = [e for e in await api.runtime.stores.events.list_events() if e.type == "refresh_token_reused"]
    assert events == []


@pytest.mark.parametrize("engine", ["postgresql", "mariadb"])
async def test_database_replies_dropped_past_the_window(
    make_api: Callable[..., Any], clean_sql_url: Callable[[str], str], engine: str
) -> None:
    async with in_front_of(clean_sql_url(engine)) as (proxy, url), \
            make_api(database_url=url, store_timeout=TIMEOUT, pool_timeout=TIMEOUT) as api:
        await lost_then_retried(api, proxy)


async def test_redis_replies_dropped_past_the_window(make_api: Callable[..., Any], redis_server: RedisServer) -> None:
    proxy = FaultProxy("127.0.0.1", redis_server.port)
    await proxy.start()
    try:
        async with make_api(session_store_url=f"redis://127.0.0.1:{proxy.port}/0", store_timeout=TIMEOUT) as api:
            await lost_then_retried(api, proxy)
    finally:
        await proxy.close()
