"""The Redis eviction-policy check, against the local Redis and a
redis-server of our own started with an evicting policy."""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from keyturn.errors import ConfigError
from keyturn.stores.redis_safety import check_eviction_policy
from tests.conftest import backend_unavailable, free_port


@pytest.fixture
async def local_redis() -> AsyncIterator[Any]:
    import redis.asyncio as aioredis

    client = aioredis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=2)
    try:
        await client.ping()
    except Exception:  # noqa: BLE001
        await client.aclose()
        backend_unavailable("Redis at 127.0.0.1:6379 is unreachable")
    yield client
    await client.aclose()


@pytest.fixture
def evicting_redis() -> Iterator[int]:
    binary = shutil.which("redis-server")
    if binary is None:
        backend_unavailable("redis-server is not installed")
        raise AssertionError  # unreachable
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--maxmemory", "10mb", "--maxmemory-policy", "allkeys-lru"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        import redis

        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=port, socket_connect_timeout=0.5).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_noeviction_passes(local_redis: Any) -> None:
    if (await local_redis.config_get("maxmemory-policy"))["maxmemory-policy"] != "noeviction":
        pytest.fail("the local Redis must run with noeviction for keyturn")
    assert await check_eviction_policy(local_redis) == "noeviction"


async def test_an_evicting_policy_refuses_unless_allowed(evicting_redis: int, caplog: pytest.LogCaptureFixture) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis(port=evicting_redis)
    try:
        with pytest.raises(ConfigError, match="allkeys-lru"):
            await check_eviction_policy(client)
        with caplog.at_level(logging.ERROR, logger="keyturn.redis"):
            assert await check_eviction_policy(client, allow_eviction=True) == "allkeys-lru"
        assert "UNSAFE" in caplog.text
    finally:
        await client.aclose()


class _NoConfig:
    async def config_get(self, name: str) -> Any:
        raise RuntimeError("ERR unknown command 'CONFIG'")


async def test_an_unreadable_policy_refuses_unless_allowed() -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        await check_eviction_policy(_NoConfig())
    assert await check_eviction_policy(_NoConfig(), allow_eviction=True) == "unknown"
