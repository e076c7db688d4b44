"""Reading the body under a deadline: a message already there is returned
as is, a late one is awaited, a missing one ends in a clear 400."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from keyturn.config import Settings
from keyturn.http import wire
from keyturn.http.app import create_app
from keyturn.http.deadline import receive_before
from keyturn.service.wiring import build_runtime

MESSAGE = {"type": "http.request", "body": b"{}", "more_body": False}


async def test_a_message_already_there() -> None:
    async def receive() -> dict[str, Any]:
        return MESSAGE

    loop = asyncio.get_running_loop()
    assert await receive_before(receive, loop.time() - 1) == MESSAGE  # no wait, so no deadline to miss


async def test_a_late_message_is_awaited() -> None:
    arrived = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await arrived.wait()
        await asyncio.sleep(0)  # suspends a second time too
        return MESSAGE

    loop = asyncio.get_running_loop()
    loop.call_later(0.02, arrived.set)
    assert await receive_before(receive, loop.time() + 5) == MESSAGE


async def test_a_missing_message_times_out_and_the_wait_is_cancelled() -> None:
    seen: list[str] = []

    async def receive() -> dict[str, Any]:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        return MESSAGE  # pragma: no cover - never set

    loop = asyncio.get_running_loop()
    with pytest.raises(TimeoutError):
        await receive_before(receive, loop.time() + 0.02)
    assert seen == ["cancelled"]


async def test_an_error_after_waiting_reaches_the_caller() -> None:
    async def receive() -> dict[str, Any]:
        await asyncio.sleep(0)
        raise ConnectionResetError("gone")

    with pytest.raises(ConnectionResetError):
        await receive_before(receive, asyncio.get_running_loop().time() + 5)


async def test_a_future_is_awaited_plainly() -> None:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[dict[str, Any]] = loop.create_future()
    loop.call_later(0.01, future.set_result, MESSAGE)
    assert await receive_before(lambda: future, loop.time() + 5) == MESSAGE


async def test_a_body_that_never_comes_is_a_400(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wire, "BODY_READ_TIMEOUT", 0.05)
    app = create_app(runtime=build_runtime(settings))
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()
        return MESSAGE  # pragma: no cover - never set

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/auth/refresh", "root_path": "", "query_string": b"",
             "headers": [(b"content-type", b"application/json"), (b"content-length", b"20")],
             "client": ("127.0.0.1", 1), "server": ("test", 80), "scheme": "http", "http_version": "1.1"}
    async with app.router.lifespan_context(app):
        await app(scope, receive, send)
    assert sent[0]["status"] == 400
    assert b"took too long" in sent[1]["body"]


@pytest.mark.parametrize(
    ("pending", "message", "late", "gone"),
    [
        (False, {"type": "http.disconnect"}, False, True),  # the server knows the connection closed
        (True, None, False, False),  # the server would wait: the client is still there
        (True, None, True, True),  # past the deadline, whatever the connection
    ],
)
async def test_departure(pending: bool, message: dict[str, Any] | None, late: bool, gone: bool) -> None:
    import time

    from keyturn.http.deadline import departure

    waited = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if pending:
            await waited.wait()
        assert message is not None
        return message

    deadline = time.monotonic() + (-1 if late else 60)
    assert await departure(receive, deadline)() is gone
