"""The guard every store call runs in: driver failures of any class are 503
(logged once), keyturn's own bugs propagate, a dead pooled connection gets
exactly one retry, and neither a hung call nor its hung cleanup holds the
caller past the bound or past its own cancellation."""

from __future__ import annotations

import asyncio
import gc
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


HANG_GUARD = 15.0  # far above the bounds used here: only catches a hang, measures nothing


class HungCleanup:
    """A store call that never answers and, once cancelled, hangs in its
    cleanup (as a connection reset to a stalled server does) until released;
    its cleanup then fails."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.finished = asyncio.Event()

    async def __call__(self) -> str:
        self.started.set()
        try:
            await asyncio.Event().wait()
        finally:
            try:
                await self.release.wait()
            finally:
                self.finished.set()
            raise ConnectionResetError("reset on the way out")  # noqa: B012
        return "never"


def unretrieved(loop: asyncio.AbstractEventLoop) -> list[dict[str, Any]]:
    """What asyncio reports through the loop's exception handler from now on."""
    seen: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    return seen


@pytest.mark.slow  # a hung call and cleanup, waited out on the real clock
async def test_the_caller_is_answered_at_the_bound_while_a_hung_cleanup_finishes_on_its_own() -> None:
    hung = HungCleanup()
    reported = unretrieved(asyncio.get_running_loop())
    async with asyncio.timeout(HANG_GUARD):
        with pytest.raises(StoreUnavailable):
            await bounded(hung, store="s", timeout=0.05, faults=(), connection_lost=never_lost)
    assert not hung.finished.is_set()  # answered without waiting for the cleanup
    hung.release.set()
    await asyncio.wait_for(hung.finished.wait(), HANG_GUARD)
    await asyncio.sleep(0)
    gc.collect()
    assert reported == []  # the abandoned call's failure was retrieved, quietly


@pytest.mark.slow  # a hung cleanup, waited out on the real clock
async def test_a_cancelled_caller_leaves_at_once_while_a_hung_cleanup_finishes_on_its_own() -> None:
    hung = HungCleanup()
    reported = unretrieved(asyncio.get_running_loop())
    caller = asyncio.ensure_future(
        bounded(hung, store="s", timeout=10 * HANG_GUARD, faults=(), connection_lost=never_lost))
    await asyncio.wait_for(hung.started.wait(), HANG_GUARD)
    caller.cancel()
    async with asyncio.timeout(HANG_GUARD):
        with pytest.raises(asyncio.CancelledError):
            await caller
    assert not hung.finished.is_set()
    hung.release.set()
    await asyncio.wait_for(hung.finished.wait(), HANG_GUARD)
    await asyncio.sleep(0)
    gc.collect()
    assert reported == []


async def test_an_answer_and_a_keyturn_error_pass_through() -> None:
    async def answer() -> str:
        await asyncio.sleep(0)
        return "ok"

    async def refused() -> str:
        raise StoreUnavailable()

    assert await bounded(answer, store="s", timeout=HANG_GUARD, faults=(), connection_lost=never_lost) == "ok"
    with pytest.raises(StoreUnavailable):
        await bounded(refused, store="s", timeout=HANG_GUARD, faults=(), connection_lost=never_lost)


async def test_a_deadlock_behind_a_lost_savepoint_is_retried_whole() -> None:
    """MySQL rolls a deadlock victim back whole: SQLAlchemy's ROLLBACK TO
    SAVEPOINT then fails with "SAVEPOINT does not exist", the deadlock as its
    context. That is a deadlock too (run the call again), not a 503."""
    from sqlalchemy.exc import OperationalError

    from keyturn.stores.sql.engine import guarded

    class Store:
        _timeout = 5.0

        def __init__(self) -> None:
            self.calls = 0

        @guarded()
        async def bump(self) -> int:
            self.calls += 1
            if self.calls == 1:
                try:
                    raise OperationalError("INSERT", {}, Exception(1213, "Deadlock found when trying to get lock"))
                except OperationalError:  # the savepoint went with the transaction
                    raise OperationalError(
                        "ROLLBACK TO SAVEPOINT sa_savepoint_1", {},
                        Exception(1305, "SAVEPOINT sa_savepoint_1 does not exist"),
                    )  # noqa: B904 - the deadlock stays its implicit context
            return self.calls

    store = Store()
    assert await store.bump() == 2
