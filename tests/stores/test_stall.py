"""A stalled store never turns a retry into theft: a rotation that reaches
the store after its requester gave up (503 at the store timeout) does
nothing, by the store's own clock, so the client's retry of the same token —
later than the grace window — rotates normally instead of being answered
``refresh_token_reused`` with its session revoked."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import Api
from tests.stores.backends import RedisServer, redis_cli
from tests.stores.test_faults import bounded, name

pytestmark = pytest.mark.slow

TIMEOUT = 1.0  # settings.store_timeout here
REUSE = 1  # settings.reuse_interval here
STALL = TIMEOUT + REUSE + 0.5  # the store comes back after the deadline and after the grace window


async def reuse_events(api: Api) -> list[str]:
    return [json.dumps(e.detail) for e in await api.runtime.stores.events.list_events() if e.type == "refresh_token_reused"]


async def warm_session(api: Api) -> dict[str, Any]:
    """A session after one refresh: the store's scripts and statements are
    loaded and prepared, as on any server that has been up for a while."""
    tokens = await api.user_and_login(name())
    api.clock.advance(1)
    r = await bounded(api.refresh(tokens["refresh_token"]))
    assert r.status_code == 200, r.text
    api.clock.advance(REUSE + 5)
    body: dict[str, Any] = r.json()
    return body


async def assert_retry_rotates(api: Api, tokens: dict[str, Any]) -> None:
    api.clock.advance(REUSE + 5)  # the client retries well after the grace window
    r = await bounded(api.refresh(tokens["refresh_token"]))
    assert r.status_code == 200, r.text  # not refresh_token_reused
    r = await bounded(api.refresh(r.json()["refresh_token"]))
    assert r.status_code == 200, r.text  # the session lives on
    assert await reuse_events(api) == []
    session = await api.runtime.stores.sessions.get_session(tokens["session_id"])
    assert session is not None and session.revoked_at is None


async def test_redis_stalled_past_the_grace_window(make_api: Callable[..., Any], redis_server: RedisServer) -> None:
    async with make_api(session_store_url=redis_server.url, store_timeout=TIMEOUT, reuse_interval=REUSE) as api:
        tokens = await warm_session(api)
        assert redis_server.process is not None
        pid = redis_server.process.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            r = await bounded(api.refresh(tokens["refresh_token"]))
            assert r.status_code == 503, r.text
            await asyncio.sleep(STALL)
        finally:
            os.kill(pid, signal.SIGCONT)
        # Redis runs what was queued (the late rotation) before it answers this.
        assert await asyncio.to_thread(redis_cli, redis_server.port, "ping") == "PONG"
        await assert_retry_rotates(api, tokens)


async def test_postgresql_stalled_past_the_grace_window(
    make_api: Callable[..., Any], clean_sql_url: Callable[[str], str]
) -> None:
    """Another transaction holds the session's row: the rotation waits in
    PostgreSQL, the request answers 503, the row is released after the
    grace window and the waiting UPDATE re-checks its condition."""
    import asyncpg

    postgres_url = clean_sql_url("postgresql")
    async with make_api(database_url=postgres_url, store_timeout=TIMEOUT, reuse_interval=REUSE) as api:
        tokens = await warm_session(api)
        holder = await asyncpg.connect(postgres_url)
        try:
            tx = holder.transaction()
            await tx.start()
            await holder.execute(
                "UPDATE kt_sessions SET last_used_at = last_used_at WHERE id = $1", tokens["session_id"]
            )
            r = await bounded(api.refresh(tokens["refresh_token"]))
            assert r.status_code == 503, r.text
            await asyncio.sleep(STALL)
            await tx.commit()
        finally:
            await holder.close()
        await assert_retry_rotates(api, tokens)


class _Late:
    """``time`` as seen by a store call whose request sat ten seconds
    somewhere before the store ran it: sent long before the store's now."""

    @staticmethod
    def time() -> float:
        import time

        return time.time() - 10.0


@pytest.mark.parametrize("stores", ["sqlite", "postgresql", "mariadb", "redis", "redis-cluster"], indirect=True)
async def test_a_rotation_past_its_deadline_does_nothing(store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The deadline is checked by the store's clock, on every networked engine
    (the memory engine runs in the caller's own step and cannot arrive late)."""
    import keyturn.stores.redis.sessions
    import keyturn.stores.sql.sessions
    from tests.stores.test_conformance import add, new_user, rotate

    s = await add(store, new_user())
    for module in (keyturn.stores.sql.sessions, keyturn.stores.redis.sessions):
        monkeypatch.setattr(module, "time", _Late)
    assert await rotate(store, s, 0, s.created_at + 1, user_id=s.user_id) is False
    assert (await store.get_session(s.id)).generation == 0
    monkeypatch.undo()
    assert await rotate(store, s, 0, s.created_at + 1, user_id=s.user_id) is True
