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
from keyturn.stores.redis.safety import check_eviction_policy
from tests.conftest import backend_unavailable, free_port, lane


@pytest.fixture
@lane("backend")
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
@lane("slow", "backend")
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


async def test_the_redis_engine_refuses_to_start_on_an_evicting_redis(
    evicting_redis: int, make_settings: Any, caplog: pytest.LogCaptureFixture,
) -> None:
    from keyturn.service.wiring import build_runtime

    url = f"redis://127.0.0.1:{evicting_redis}/0"
    rt = build_runtime(make_settings(session_store_url=url))
    try:
        with pytest.raises(ConfigError, match="maxmemory-policy"):
            await rt.start()
    finally:
        await rt.close()
    rt = build_runtime(make_settings(session_store_url=url, redis_allow_eviction=True))
    try:
        with caplog.at_level(logging.ERROR, logger="keyturn.redis"):
            await rt.start()
        assert "UNSAFE" in caplog.text
    finally:
        await rt.close()


async def test_security_state_lives_beside_redis_sessions(local_redis: Any, make_api: Any) -> None:
    import secrets

    from keyturn.stores.redis.security import RedisSecurityStore

    prefix = f"ktsec-{secrets.token_hex(4)}"
    try:
        async with make_api(session_store_url="redis://127.0.0.1:6379/0", redis_key_prefix=prefix,
                            refresh_ip_max_invalid=3) as api:
            assert isinstance(api.runtime.stores.security, RedisSecurityStore)
            a = await api.user_and_login()
            assert (await api.post("/auth/logout", a["access_token"])).status_code == 204
            r = await api.get("/auth/me", a["access_token"])
            assert r.status_code == 401 and r.json()["code"] == "token_revoked"
            for _ in range(3):
                await api.refresh("garbage")
            assert (await api.refresh("garbage")).status_code == 429
    finally:
        keys = [k async for k in local_redis.scan_iter(match=f"{prefix}:*")]
        if keys:
            await local_redis.delete(*keys)
