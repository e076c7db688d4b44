"""Await an ASGI ``receive()`` under a deadline, arming the timer only when
the message is not already there; and tell whether a request's client has
gone (``departure``).

A small request's body usually arrives with its headers, so ``receive()``
returns without ever suspending; an ``asyncio.timeout`` would still create
and cancel a loop timer for it on every request. Here the call is stepped
once by hand: if it finishes, that is the message; if it suspends, it is
awaited to the end under the deadline, exactly as a plain ``await`` would.
"""

from __future__ import annotations

import asyncio
import time
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any

from starlette.types import Message


@types.coroutine
def _go_on(step: Coroutine[Any, Any, Message], pending: Any) -> Generator[Any, Any, Message]:
    """Carry on awaiting ``step``, suspended on ``pending`` (what ``await``
    does: each value sent or exception thrown in goes on to ``step``)."""
    while True:
        try:
            sent = yield pending
        except GeneratorExit:
            step.close()
            raise
        except BaseException as exc:  # noqa: BLE001 - cancellation included: it belongs to ``step``
            try:
                pending = step.throw(exc)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
        else:
            try:
                pending = step.send(sent)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]


async def receive_before(receive: Callable[[], Awaitable[Message]], deadline: float) -> Message:
    """``await receive()``; ``TimeoutError`` if it is still waiting at
    ``deadline`` (event loop time)."""
    step = receive()
    if not isinstance(step, Coroutine):  # another kind of awaitable: awaited plainly
        async with asyncio.timeout_at(deadline):
            return await step
    try:
        pending = step.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    async with asyncio.timeout_at(deadline):
        return await _go_on(step, pending)


def departure(receive: Callable[[], Awaitable[Message]], deadline: float) -> Callable[[], Awaitable[bool]]:
    """``gone()``: whether the client of a request has gone — the request
    is past ``deadline`` (``time.monotonic``, which runs on while the
    process is stopped) or its connection has closed. The connection is
    probed by stepping ``receive()`` once by hand: a server that knows of the
    disconnect answers at once; one that would wait means the client is
    still there, and the step is dropped (nothing is waited for)."""

    async def gone() -> bool:
        if time.monotonic() > deadline:
            return True
        step = receive()
        if not isinstance(step, Coroutine):  # cannot be probed without waiting
            return False
        try:
            step.send(None)
        except StopIteration as done:
            return bool(done.value.get("type") == "http.disconnect")
        step.close()
        return False

    return gone
