"""The guard every store call runs in: driver failures of any class are 503
(logged once), keyturn's own bugs propagate, and a dead pooled connection
gets exactly one retry."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from keyturn.errors import StoreUnavailable
from keyturn.stores.guard import bounded


def raising_in(module: str, exc: BaseException) -> Any:
    """A coroutine function whose frames belong to ``module``."""
    scope: dict[str, Any] = {"__name__": module, "exc": exc}
    exec("async def call():\n    raise exc\n", scope)
    return scope["call"]


def never_lost(exc: BaseException) -> bool:
    return False


async def test_any_failure_raised_inside_the_driver_is_unavailable_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    call = raising_in("redis.asyncio.cluster", AttributeError("'NoneType' object has no attribute 'writelines'"))
    with caplog.at_level(logging.ERROR, logger="keyturn.stores"), pytest.raises(StoreUnavailable):
        await bounded(call, store="RedisSessionStore", timeout=5.0, faults=(), connection_lost=never_lost)
    assert [r.getMessage() for r in caplog.records if r.name == "keyturn.stores"] == [
        "store RedisSessionStore failed: AttributeError: 'NoneType' object has no attribute 'writelines'"
    ]


async def test_a_bug_in_keyturn_code_propagates() -> None:
    call = raising_in("keyturn.stores.redis.sessions", KeyError("gen"))
    with pytest.raises(KeyError):
        await bounded(call, store="RedisSessionStore", timeout=5.0, faults=(), connection_lost=never_lost)


async def test_a_lost_connection_is_retried_once() -> None:
    calls: list[int] = []

    async def call() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionResetError()
        return "ok"

    def lost(exc: BaseException) -> bool:
        return isinstance(exc, ConnectionResetError)

    with pytest.raises(StoreUnavailable):
        await bounded(call, store="s", timeout=5.0, faults=(ConnectionResetError,), connection_lost=lost)
    assert len(calls) == 2
    assert await bounded(call, store="s", timeout=5.0, faults=(ConnectionResetError,), connection_lost=lost) == "ok"
