"""Fixtures for the client tests: the service in process, and a clock the
client schedules by."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from keyturn.clock import FrozenClock
from keyturn.config import Settings
from keyturn.http.app import create_app
from keyturn.service.wiring import Runtime, build_runtime
from tests.conftest import PASSWORD


class ManualTime:
    """The client's clock: both readings move together, only when told."""

    def __init__(self, wall: float = 1_700_000_000.0) -> None:
        self.mono = 1000.0
        self.wall = wall

    def monotonic(self) -> float:
        return self.mono

    def time(self) -> float:
        return self.wall

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += seconds


@dataclass
class Service:
    runtime: Runtime
    transport: httpx.ASGITransport
    clock: FrozenClock
    base_url: str = "http://keyturn.test"

    def client(self, **kw: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.transport, base_url=self.base_url, **kw)

    async def add_user(self, username: str = "alice") -> None:
        await self.runtime.service.create_user(username, PASSWORD)

    async def live_sessions(self, username: str = "alice") -> int:
        user = await self.runtime.stores.users.user_by_name(username)
        return len(await self.runtime.service.list_sessions(user.id))


@pytest.fixture
def make_service(clock: FrozenClock, make_settings: Callable[..., Settings]) -> Callable[..., Any]:
    @contextlib.asynccontextmanager
    async def make(**overrides: Any) -> AsyncIterator[Service]:
        runtime = build_runtime(make_settings(**overrides), clock=clock)
        app = create_app(runtime=runtime)
        async with app.router.lifespan_context(app):
            yield Service(runtime, httpx.ASGITransport(app=app, client=("203.0.113.7", 50000)), clock)

    return make


@pytest.fixture
def manual_time() -> ManualTime:
    return ManualTime()
