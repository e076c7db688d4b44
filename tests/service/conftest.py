from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from keyturn.clock import FrozenClock
from keyturn.config import Settings
from keyturn.service.wiring import Runtime, build_runtime
from keyturn.stores.memory import memory_stores
from tests.conftest import PASSWORD


@pytest.fixture(params=["memory", "sqlite"])
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_runtime(engine: str, clock: FrozenClock, make_settings: Callable[..., Settings]) -> Callable[..., Any]:
    import contextlib

    @contextlib.asynccontextmanager
    async def make(**overrides: Any) -> AsyncIterator[Runtime]:
        settings = make_settings(**overrides)
        stores = memory_stores() if engine == "memory" else None
        rt = build_runtime(settings, clock=clock, stores=stores)
        await rt.start()
        try:
            yield rt
        finally:
            await rt.close()

    return make


@pytest.fixture
async def rt(make_runtime: Callable[..., Any]) -> AsyncIterator[Runtime]:
    async with make_runtime() as runtime:
        yield runtime


async def new_user(rt: Runtime, name: str = "alice") -> str:
    user = await rt.service.create_user(name, PASSWORD)
    return user.id


async def login(rt: Runtime, name: str = "alice", ip: str = "203.0.113.7", ua: str = "test") -> Any:
    return await rt.service.login(name, PASSWORD, ip=ip, user_agent=ua)
