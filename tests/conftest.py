"""Shared fixtures: settings, a frozen clock, the ASGI app over httpx, and a
real ``keyturn serve`` process; and the test lanes: a fixture tagged with
``lane(...)`` puts every test that uses it in the ``slow`` lane (it starts a
process) and/or marks it ``backend`` (it needs PostgreSQL, MariaDB or Redis).
``pytest -m "not slow"`` is the everyday lane; ARCHITECTURE.md lists them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from keyturn.clock import FrozenClock
from keyturn.config import Settings
from keyturn.http.app import create_app
from keyturn.service.masterkey import new_master_key
from keyturn.service.wiring import Runtime, build_runtime

PASSWORD = "correct horse battery staple"
# Cheap argon2 for tests; production defaults are tested separately.
FAST_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_cost": 1024, "argon2_parallelism": 1}
FAST_ARGON2_ENV = {"KEYTURN_ARGON2_TIME_COST": "1", "KEYTURN_ARGON2_MEMORY_COST": "1024", "KEYTURN_ARGON2_PARALLELISM": "1"}


F = TypeVar("F", bound=Callable[..., Any])
_LANE = "_keyturn_lane"
# Engines that are servers, as the engine fixtures' parameters name them.
SERVER_ENGINES = ("postgresql", "mariadb", "redis", "redis-cluster")


def lane(*marks: str, params: Mapping[str, Sequence[str]] | None = None) -> Callable[[F], F]:
    """Tag a fixture (under ``@pytest.fixture``) with the marks of every test
    that uses it, directly or through other fixtures; ``params``: the marks
    a parameter value of the fixture adds (``{"postgresql": ["backend"]}``)."""

    def tag(fixture: F) -> F:
        setattr(fixture, _LANE, (frozenset(marks), {k: frozenset(v) for k, v in (params or {}).items()}))
        return fixture

    return tag


def lane_marks(item: pytest.Item) -> set[str]:
    """The marks the fixtures ``item`` uses imply (see ``lane``)."""
    info = getattr(item, "_fixtureinfo", None)
    chosen = getattr(getattr(item, "callspec", None), "params", {})
    found: set[str] = set()
    for name in getattr(item, "fixturenames", ()):
        defs = info.name2fixturedefs.get(name) if info is not None else None
        if not defs:
            continue
        marks, by_param = getattr(defs[-1].func, _LANE, (frozenset(), {}))
        found |= marks
        value = chosen.get(name)
        if isinstance(value, str):
            found |= by_param.get(value, frozenset())
    return found


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for mark in sorted(lane_marks(item)):
            item.add_marker(mark)


def require_backends() -> bool:
    return os.environ.get("KEYTURN_TEST_REQUIRE_BACKENDS") == "1"


def backend_unavailable(reason: str) -> None:
    """Skip where a server is missing, except in CI, where it must fail."""
    if require_backends():
        pytest.fail(f"backend required but unavailable: {reason}")
    pytest.skip(reason)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": f"sqlite:///{tmp_path}/keyturn.db",
            "master_key": new_master_key(),
            **FAST_ARGON2,
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@dataclass
class Api:
    """An httpx client bound to a started app, with a few shortcuts."""

    client: httpx.AsyncClient
    runtime: Runtime
    clock: FrozenClock

    async def register(self, username: str = "alice", password: str = PASSWORD) -> httpx.Response:
        return await self.client.post("/auth/register", json={"username": username, "password": password})

    async def login(self, username: str = "alice", password: str = PASSWORD, **kw: Any) -> httpx.Response:
        return await self.client.post("/auth/login", json={"username": username, "password": password}, **kw)

    async def user_and_login(self, username: str = "alice") -> dict[str, Any]:
        r = await self.register(username)
        assert r.status_code == 201, r.text
        r = await self.login(username)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    async def refresh(self, token: str, **kw: Any) -> httpx.Response:
        return await self.client.post("/auth/refresh", json={"refresh_token": token}, **kw)

    async def get(self, path: str, access: str, **kw: Any) -> httpx.Response:
        return await self.client.get(path, headers={"authorization": f"Bearer {access}"}, **kw)

    async def post(self, path: str, access: str, **kw: Any) -> httpx.Response:
        return await self.client.post(path, headers={"authorization": f"Bearer {access}"}, **kw)


@pytest.fixture
def make_api(clock: FrozenClock, make_settings: Callable[..., Settings]) -> Callable[..., Any]:
    """``async with make_api(**settings) as api`` — app on a frozen clock."""
    import contextlib

    @contextlib.asynccontextmanager
    async def make(**overrides: Any) -> AsyncIterator[Api]:
        runtime = build_runtime(make_settings(**overrides), clock=clock)
        app = create_app(runtime=runtime)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
            async with httpx.AsyncClient(transport=transport, base_url="http://keyturn.test") as client:
                yield Api(client, runtime, clock)

    return make


@pytest.fixture
async def api(make_api: Callable[..., Any]) -> AsyncIterator[Api]:
    async with make_api() as api:
        yield api


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(tmp: Path, env: dict[str, str] | None = None, *, workers: int = 1, port: int | None = None) -> Server:
    """Start ``keyturn serve`` and wait until it answers (bounded)."""
    port = port or free_port()
    full_env = {**os.environ, **FAST_ARGON2_ENV, "KEYTURN_DATABASE_URL": f"sqlite:///{tmp}/keyturn.db", **(env or {})}
    log_path = tmp / f"serve-{port}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "keyturn", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
        env=full_env, stdout=log_path.open("wb"), stderr=subprocess.STDOUT, cwd=tmp,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"keyturn serve exited: {log_path.read_text()}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return Server(url, proc, full_env, log_path)
        except httpx.HTTPError:
            time.sleep(0.1)
    stop_server(Server(url, proc, full_env, log_path))
    raise RuntimeError("keyturn serve did not come up in 90 s")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=10)


@pytest.fixture
@lane("slow")
def server(tmp_path: Path) -> Iterator[Server]:
    srv = start_server(tmp_path, {"KEYTURN_MASTER_KEY": new_master_key()})
    try:
        yield srv
    finally:
        stop_server(srv)
