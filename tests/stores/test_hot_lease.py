"""The hot path's lease on PostgreSQL and MariaDB: hot statements reuse the
connection they checked out for a few milliseconds instead of going through
the pool each time, yet the pool keeps counting it, gets it back soon, and
never sees again a connection whose statement was cancelled. A cold call
waiting under steady hot load: ``test_one_pool.py``."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event

from keyturn.stores.sql.hot import MysqlHotPath, PostgresHotPath
from keyturn.stores.sql.store import SqlStore

ENGINES = ["postgresql", "mariadb"]
SLEEP = {"postgresql": "SELECT pg_sleep(0.3)", "mariadb": "SELECT SLEEP(0.3)"}


async def _query(conn: Any, sql: str) -> Any:
    """One statement on a driver connection of either driver; the connection back."""
    if hasattr(conn, "fetchval"):  # asyncpg
        await conn.fetchval(sql)
    else:  # asyncmy
        async with conn.cursor() as cur:
            await cur.execute(sql)
            await cur.fetchone()
    return conn


def _hot(store: SqlStore) -> PostgresHotPath | MysqlHotPath:
    hot = store._hot
    assert isinstance(hot, (PostgresHotPath, MysqlHotPath))
    return hot


@pytest.fixture
def long_lease(monkeypatch: pytest.MonkeyPatch) -> float:
    """A lease long enough for a few statements on a loaded machine."""
    for cls in (PostgresHotPath, MysqlHotPath):
        monkeypatch.setattr(cls, "LEASE", 0.5)
    return 0.5


async def _all_given_back(pool: Any, within: float) -> bool:
    """The pool has every connection back, polled for ``within`` seconds."""
    end = time.monotonic() + within
    while pool.checkedout() and time.monotonic() < end:
        await asyncio.sleep(0.01)
    return bool(pool.checkedout() == 0)


@pytest.mark.parametrize("engine", ENGINES)
async def test_hot_statements_within_the_lease_take_no_checkout(
    clean_sql_url: Callable[[str], str], engine: str, long_lease: float
) -> None:
    store = SqlStore.from_url(clean_sql_url(engine), pool_size=2, pool_timeout=10)
    await store.migrate()
    checkouts = 0

    def counted(*_: Any) -> None:
        nonlocal checkouts
        checkouts += 1

    event.listen(store.engine.sync_engine, "checkout", counted)
    pool: Any = store.engine.pool
    try:
        for _ in range(5):
            assert await store.get_session(secrets.token_hex(11)) is None
        assert checkouts == 1
        assert pool.checkedout() == 1  # leased: the pool still counts it
        assert await _all_given_back(pool, within=4 * long_lease)  # given back once idle
    finally:
        await store.close()


@pytest.mark.parametrize("engine", ENGINES)
async def test_a_running_statement_keeps_its_connection_and_a_cancelled_one_loses_it(
    clean_sql_url: Callable[[str], str], engine: str, long_lease: float
) -> None:
    store = SqlStore.from_url(clean_sql_url(engine), pool_size=2, pool_timeout=10)
    await store.migrate()
    hot = _hot(store)
    pool: Any = store.engine.pool
    try:
        first = await hot._on(lambda conn: _query(conn, "SELECT 1"))  # leased, idle
        slow = asyncio.ensure_future(hot._on(lambda conn: _query(conn, SLEEP[engine])))
        await asyncio.sleep(0.05)  # the slow statement runs on the leased connection
        other = await hot._on(lambda conn: _query(conn, "SELECT 1"))
        assert other is not first  # not shared with a statement in flight
        slow.cancel()  # as the store guard does with a call it gave up on
        with pytest.raises(asyncio.CancelledError):
            await slow
        for _ in range(3):
            assert await hot._on(lambda conn: _query(conn, "SELECT 1")) is not first  # discarded, never reused
        assert await _all_given_back(pool, within=4 * long_lease)
        assert pool.checkedin() <= 2
    finally:
        await store.close()
