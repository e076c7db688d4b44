"""The security stores on every engine (fixtures, imported by conftest.py):
memory and SQLite always; PostgreSQL and MariaDB in a database of their own (created if missing), so
these runs never disturb another suite's schema; Redis under a key prefix
of its own, removed afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from keyturn.stores.memory import MemorySecurityStore
from keyturn.stores.sql.security import SqlSecurityStore
from keyturn.stores.sql.store import SqlStore
from tests.conftest import backend_unavailable

DBNAME = "keyturn_security_test"


async def _ensure_database(kind: str) -> str:
    try:
        if kind == "postgresql":
            import asyncpg

            conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test", timeout=3)
            try:
                if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DBNAME):
                    await conn.execute(f'CREATE DATABASE "{DBNAME}"')
            finally:
                await conn.close()
            return f"postgresql://postgres@127.0.0.1:5432/{DBNAME}"
        import asyncmy

        conn = await asyncmy.connect(host="127.0.0.1", port=3306, user="root", password="", connect_timeout=3)
        try:
            async with conn.cursor() as cur:
                await cur.execute(f"CREATE DATABASE IF NOT EXISTS `{DBNAME}`")
        finally:
            conn.close()
        return f"mysql://root@127.0.0.1:3306/{DBNAME}"
    except Exception as exc:  # noqa: BLE001 - any connection failure means "not here"
        backend_unavailable(f"{kind} unreachable: {type(exc).__name__}")
        raise


async def _redis_store() -> AsyncIterator[Any]:
    import secrets

    import redis.asyncio as aioredis

    from keyturn.stores.redis.security import RedisSecurityStore

    client = aioredis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=2)
    try:
        await client.ping()
    except Exception as exc:  # noqa: BLE001
        await client.aclose()
        backend_unavailable(f"redis unreachable: {type(exc).__name__}")
    prefix = f"ktsec-{secrets.token_hex(4)}"
    try:
        yield RedisSecurityStore(client, prefix=prefix)
    finally:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def _store(kind: str, tmp_path: Path) -> AsyncIterator[Any]:
    if kind == "memory":
        yield MemorySecurityStore()
        return
    if kind == "redis":
        async for store in _redis_store():
            yield store
        return
    url = f"sqlite:///{tmp_path}/sec.db" if kind == "sqlite" else await _ensure_database(kind)
    sql = SqlStore.from_url(url)
    try:
        await sql.migrate()
        # With the driver-level hot path where the engine has one (SQLite,
        # PostgreSQL), as the runtime wires it; MariaDB runs the SQLAlchemy path.
        yield SqlSecurityStore(sql.engine, hot=getattr(sql, "_hot", None))
    finally:
        await sql.close()


@pytest.fixture(params=["memory", "sqlite", "postgresql", "mysql", "redis"])
async def security_store(request: Any, tmp_path: Path) -> AsyncIterator[Any]:
    """Counters, denylist and replay cache: every session-store engine."""
    async for store in _store(request.param, tmp_path):
        yield store


@pytest.fixture(params=["memory", "sqlite", "postgresql", "mysql"])
async def client_store(request: Any, tmp_path: Path) -> AsyncIterator[Any]:
    """Resource-server clients: the database engines (never Redis)."""
    async for store in _store(request.param, tmp_path):
        yield store
