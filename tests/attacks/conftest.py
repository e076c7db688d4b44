"""The attack suite's target: the ASGI app on the settings the run is
parametrised with (default: a fresh SQLite file per test). To aim it at
other engines, set ``KEYTURN_ATTACK_SETTINGS`` to a JSON object of settings,
e.g. ``{"database_url": "postgresql://postgres@127.0.0.1/attacks",
"session_store_url": "redis://127.0.0.1:6379/9"}``. Those SQL databases are
EMPTIED before every test (every ``kt_*`` table), so give the suite databases
of its own; on Redis each test gets a key prefix of its own, deleted after
it (nothing else on the server is touched).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.conftest import Api

# The api client's own address is a trusted proxy, so a test can speak for
# many client addresses through X-Forwarded-For.
TRUSTED = {"trusted_proxies": ["203.0.113.7/32"]}


def attack_settings(**overrides: Any) -> dict[str, Any]:
    raw = os.environ.get("KEYTURN_ATTACK_SETTINGS")
    base: dict[str, Any] = json.loads(raw) if raw else {}
    settings = {**TRUSTED, **base, **overrides}
    if str(settings.get("session_store_url", "")).startswith("redis"):
        settings.setdefault("redis_key_prefix", f"kt-attack-{secrets.token_hex(6)}")
    return settings


async def reset_backends(settings: dict[str, Any]) -> None:
    """Start each test from empty shared databases, as SQLite files do."""
    import sqlalchemy as sa

    from keyturn.stores.sql.store import SqlStore

    for key in ("database_url", "session_store_url"):
        url = settings.get(key)
        if not url or url.startswith(("sqlite", "memory")):
            continue
        if url.startswith("redis"):
            continue  # a fresh key prefix per test (attack_settings)
        store = SqlStore.from_url(url)
        try:
            await store.migrate()
            async with store.engine.begin() as conn:
                names = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
                for name in names:
                    if name.startswith("kt_") and name not in ("kt_alembic_version", "kt_schema_version"):
                        await conn.execute(sa.text(f"DELETE FROM {name}"))
        finally:
            await store.close()


async def delete_redis_keys(settings: dict[str, Any]) -> None:
    """Remove this test's keys (its own prefix) from the Redis it used."""
    url, prefix = str(settings.get("session_store_url", "")), settings.get("redis_key_prefix")
    if not url.startswith("redis") or not prefix:
        return
    import redis.asyncio as aioredis

    if "+cluster" in url.split(":", 1)[0]:
        client: Any = aioredis.RedisCluster.from_url(url.replace("+cluster", "", 1))
    else:
        client = aioredis.Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"*{prefix}*", count=1000)]
        for key in keys:
            await client.delete(key)
    finally:
        await client.aclose()


@pytest.fixture
def make_target(make_api: Callable[..., Any]) -> Callable[..., Any]:
    import contextlib

    @contextlib.asynccontextmanager
    async def make(**overrides: Any) -> AsyncIterator[Api]:
        settings = attack_settings(**overrides)
        await reset_backends(settings)
        try:
            async with make_api(**settings) as api:
                yield api
        finally:
            await delete_redis_keys(settings)

    return make


@pytest.fixture
async def target(make_target: Callable[..., Any]) -> AsyncIterator[Api]:
    async with make_target() as api:
        yield api


def assert_refused(response: Any, status: int, code: str) -> None:
    """The documented 4xx and code — never a 5xx."""
    assert response.status_code < 500, response.text
    assert response.status_code == status, response.text
    assert response.json()["code"] == code, response.text
