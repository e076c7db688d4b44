"""One connection pool per database per process: the hot path (read,
rotate, denylist) and the cold path (logins, listings, /readyz) share it, so
the database server sees no more connections from this process than that
pool holds, and never more than KEYTURN_POOL_SIZE."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from typing import Any
from pathlib import Path

import pytest
import sqlalchemy as sa

from keyturn.core.sessions import Session
from keyturn.stores.sql.store import SqlStore

# Connections to this run's database, as the server counts them.
SEEN_BY_SERVER = {
    "postgresql": "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()",
    "mariadb": "SELECT count(*) FROM information_schema.PROCESSLIST WHERE DB = DATABASE()",
}


@pytest.mark.parametrize("engine", ["postgresql", "mariadb"])
async def test_the_server_sees_exactly_the_one_pool(clean_sql_url: Callable[[str], str], engine: str) -> None:
    pool_size = 3
    store = SqlStore.from_url(clean_sql_url(engine), pool_size=pool_size, pool_timeout=10)
    security = store.security_state()
    try:
        now = time.time()

        async def client() -> None:
            sid = secrets.token_hex(11)
            session = Session(sid, "u" + sid[:8], secrets.token_bytes(32), now, now + 3600, now + 3600)
            await store.create_session(session, max_sessions=5, now=now)  # login
            for generation in range(3):  # refreshes
                assert await store.get_session(sid) is not None
                assert await store.rotate(
                    sid, generation, now=time.time(), idle_expires_at=now + 3600, ip=None, user_agent=None
                )
                assert not await security.any_denied([sid], now=now)
            await store.list_sessions(session.user_id, now=now)
            await store.ping()  # /readyz

        await asyncio.gather(*(client() for _ in range(4 * pool_size)))
        async with store.engine.connect() as conn:
            seen = int((await conn.execute(sa.text(SEEN_BY_SERVER[engine]))).scalar_one())
        pool = store.engine.pool
        held = pool.checkedin() + pool.checkedout()  # type: ignore[attr-defined]
        assert seen == held, (seen, held)
        assert 1 <= held <= pool_size
    finally:
        await store.close()


@pytest.mark.parametrize("engine", ["sqlite", "postgresql", "mariadb"])
async def test_the_cold_path_is_served_under_steady_hot_load(
    tmp_path: Path, clean_sql_url: Callable[[str], str], engine: str
) -> None:
    """One connection, shared by concurrent hot statements (SQLite) or
    leased to them for a few milliseconds at a time (``hot._Pooled``): a
    login queued behind them still gets it while they keep coming (it would
    otherwise wait for the pool timeout and fail with 503)."""
    url = f"sqlite:///{tmp_path}/one.db" if engine == "sqlite" else clean_sql_url(engine)
    store = SqlStore.from_url(url, timeout=5.0, pool_size=1, pool_timeout=3)
    await store.migrate()
    now = time.time()
    sid = secrets.token_hex(11)
    await store.create_session(
        Session(sid, "u1", secrets.token_bytes(32), now, now + 3600, now + 3600), max_sessions=0, now=now
    )
    stop = asyncio.Event()
    reads = 0

    async def reader() -> None:
        nonlocal reads
        while not stop.is_set():
            assert await store.get_session(sid) is not None
            reads += 1

    readers = [asyncio.ensure_future(reader()) for _ in range(16)]
    try:
        while reads < 200:  # the hot path is busy
            await asyncio.sleep(0.001)
        for n in range(5):  # logins, each a transaction on the one connection
            other = Session(secrets.token_hex(11), "u2", secrets.token_bytes(32), now, now + 3600, now + 3600)
            await store.create_session(other, max_sessions=3, now=now)
        assert not any(r.done() for r in readers)  # served while the hot load went on
    finally:
        stop.set()
        await asyncio.gather(*readers)
        await store.close()


async def test_a_sqlite_lease_closes_to_newcomers_so_a_queued_cold_call_goes_first(tmp_path: Path) -> None:
    """Hot statements share SQLite's one connection only for a while: a
    later one waits for the lease to drain, and the cold call queued in the
    pool meanwhile is served before it."""
    from keyturn.stores.protocols import SecurityEvent
    from keyturn.stores.sql.hot import SqliteHotPath

    store = SqlStore.from_url(f"sqlite:///{tmp_path}/one.db", timeout=5.0)
    await store.migrate()
    hot = store._hot
    assert isinstance(hot, SqliteHotPath)
    gate = asyncio.Event()
    try:
        first = asyncio.ensure_future(hot._on(lambda conn: gate.wait()))  # a lease, its statement in flight
        await asyncio.sleep(hot.LEASE * 4)  # the lease stops taking newcomers
        cold = asyncio.ensure_future(store.add_event(SecurityEvent("login", time.time(), "u1", None, None, None, "{}")))
        await asyncio.sleep(0.05)  # queued in the pool

        async def events_seen(conn: Any) -> int:
            return int((await conn.execute_fetchall("SELECT count(*) FROM kt_events"))[0][0])

        late = asyncio.ensure_future(hot._on(events_seen))
        await asyncio.sleep(0.05)
        gate.set()
        await asyncio.gather(first, cold)
        assert await late == 1  # the cold call had the connection first
    finally:
        gate.set()
        await store.close()
