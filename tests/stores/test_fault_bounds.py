"""Faults with a bound: a store that stalls answers 503 within the store
timeout (plus a margin) on every engine, a restarted Redis leaves no dead
pooled connection behind, and a Redis Cluster losing a master never answers
500 — sessions on the surviving masters keep answering until the cluster
itself marks the failure."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.crc import key_slot

from tests.conftest import Api, backend_unavailable, lane
from tests.stores import backends as b
from tests.stores.proxy import in_front_of
from tests.stores.test_faults import HANG_GUARD, bounded, login, name

TIMEOUT = 1.0  # settings.store_timeout in these tests
BOUND = 2 * TIMEOUT  # generous: only a call that waits past the timeout fails it


async def timed(call: Any) -> tuple[httpx.Response, float]:
    start = time.monotonic()
    r = await bounded(call)
    return r, time.monotonic() - start


async def assert_503_within_bound(api: Api, tokens: dict[str, Any]) -> None:
    """Refresh, login and /readyz answer 503 before ``BOUND``."""
    for what, call in (
        ("refresh", api.refresh(tokens["refresh_token"])),
        ("login", api.login(tokens["username"])),
        ("readyz", api.client.get("/readyz")),
    ):
        r, took = await timed(call)
        assert r.status_code == 503, (what, r.text)
        assert took < BOUND, f"{what} answered after {took:.2f} s (store timeout {TIMEOUT} s)"


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["postgresql", "mariadb"])
async def test_a_stalled_database_answers_within_the_store_timeout(
    make_api: Callable[..., Any], clean_sql_url: Callable[[str], str], engine: str
) -> None:
    async with in_front_of(clean_sql_url(engine)) as (proxy, url), \
            make_api(database_url=url, store_timeout=TIMEOUT, pool_timeout=TIMEOUT) as api:
        tokens = await login(api)
        await proxy.down("stall")
        await assert_503_within_bound(api, tokens)
        await proxy.up()
        r = await bounded(api.refresh(tokens["refresh_token"]))
        assert r.status_code == 200, r.text


@pytest.mark.slow
async def test_a_stopped_redis_answers_within_the_store_timeout(
    make_api: Callable[..., Any], redis_server: b.RedisServer
) -> None:
    async with make_api(session_store_url=redis_server.url, store_timeout=TIMEOUT) as api:
        tokens = await login(api)
        assert redis_server.process is not None
        redis_server.process.send_signal(signal.SIGSTOP)
        try:
            await assert_503_within_bound(api, tokens)
        finally:
            redis_server.process.send_signal(signal.SIGCONT)
        r = await bounded(api.refresh(tokens["refresh_token"]))
        assert r.status_code == 200, r.text


@pytest.mark.slow
async def test_after_a_redis_restart_a_burst_of_refreshes_all_succeed(
    make_api: Callable[..., Any], redis_server: b.RedisServer
) -> None:
    # The default store timeout: a cold pool of 64 connections opens one by one.
    async with make_api(session_store_url=redis_server.url, store_timeout=3.0) as api:
        sessions = [await login(api) for _ in range(64)]

        async def refresh_all() -> list[httpx.Response]:
            return list(await asyncio.gather(*(bounded(api.refresh(s["refresh_token"])) for s in sessions)))

        for s, r in zip(sessions, await refresh_all(), strict=True):  # fills the pool with connections
            assert r.status_code == 200, r.text
            s.update(r.json())
        redis_server.kill()
        redis_server.start()
        answers = await refresh_all()
        assert [r.status_code for r in answers] == [200] * 64, {r.text for r in answers if r.status_code != 200}
        r = await bounded(api.client.get("/readyz"))
        assert r.status_code == 200, r.text


# --- Redis Cluster: a master dies under load --------------------------------------


@pytest.fixture
@lane("slow", "backend")
def private_cluster(tmp_path: Path) -> Iterator[list[b.RedisServer]]:
    import shutil

    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        backend_unavailable("redis-server / redis-cli not installed")
    servers = []
    for i in range(3):
        d = tmp_path / f"n{i}"
        d.mkdir()
        servers.append(b.RedisServer(b.cluster_port(), d))
    try:
        b.start_cluster(servers)
        yield servers
    finally:
        for s in servers:
            s.stop()


def served_slots(port: int) -> set[int]:
    """The slots the node on ``port`` serves, from its own CLUSTER NODES line."""
    line = next(x for x in b.redis_cli(port, "cluster", "nodes").splitlines() if "myself" in x)
    slots: set[int] = set()
    for part in line.split()[8:]:
        if part.startswith("["):
            continue
        lo, _, hi = part.partition("-")
        slots.update(range(int(lo), int(hi or lo) + 1))
    return slots


def cluster_ok(port: int) -> bool:
    return "cluster_state:ok" in b.redis_cli(port, "cluster", "info", timeout=2)


@pytest.mark.slow
async def test_a_cluster_master_killed_under_load_never_answers_500(
    make_api: Callable[..., Any], private_cluster: list[b.RedisServer]
) -> None:
    victim, survivor = private_cluster[0], private_cluster[1]
    url = "redis+cluster://" + ",".join(f"127.0.0.1:{s.port}" for s in private_cluster)
    dead_slots = served_slots(victim.port)
    async with make_api(session_store_url=url, store_timeout=TIMEOUT) as api:
        sessions = [await login(api) for _ in range(24)]
        owners = [await api.runtime.stores.users.user_by_name(s["username"]) for s in sessions]
        on_victim = [u is not None and key_slot(u.id.encode()) in dead_slots for u in owners]
        assert 0 < sum(on_victim) < len(sessions)  # both kinds are exercised
        statuses: list[int] = []

        async def round_of_refreshes() -> list[int]:
            answers = await asyncio.gather(*(bounded(api.refresh(s["refresh_token"])) for s in sessions))
            for s, r in zip(sessions, answers, strict=True):
                statuses.append(r.status_code)
                if r.status_code == 200:
                    s.update(r.json())
            return [r.status_code for r in answers]

        assert await round_of_refreshes() == [200] * len(sessions)
        victim.kill()
        first = await round_of_refreshes()
        if cluster_ok(survivor.port):  # the cluster has not marked the failure yet
            live = [code for code, dead in zip(first, on_victim, strict=True) if not dead]
            assert live == [200] * len(live), first
        deadline = time.monotonic() + 8  # past the node timeout (2 s): the cluster marks the failure
        while time.monotonic() < deadline:
            await round_of_refreshes()
        victim.start()
        deadline = time.monotonic() + 30
        last: list[int] = []
        while time.monotonic() < deadline:
            last = await round_of_refreshes()
            if last == [200] * len(sessions):
                break
            await asyncio.sleep(0.2)
        assert 500 not in statuses, f"{statuses.count(500)} answers were 500"
        assert set(statuses) <= {200, 503}, set(statuses)
        assert last == [200] * len(sessions), last  # recovered by itself
