"""One connection pool per database per process: the hot path (read,
rotate, denylist) and the cold path (logins, listings, /readyz) share it, so
the database server sees no more connections from this process than that
pool holds, and never more than KEYTURN_POOL_SIZE."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable

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
