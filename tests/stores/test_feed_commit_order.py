"""No verifier can skip a revocation, however late its transaction commits.

Two replicas revoke at about the same time: the first takes the lower id and
holds its transaction open (a slow commit, a stalled connection), the second
commits a higher id, and a reader pages the feed long after both rows were
written (past any settle window: the writer's clock may also be behind).
Then the first commits. The reader's next page must still carry it: a cursor
already past the lower id would skip it for every offline verifier.

Each role has its own engine, as separate replicas would (on SQLite, three
processes sharing one file)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from keyturn.errors import StoreUnavailable
from keyturn.service.feed import Cursor, RevocationFeed
from keyturn.stores.sql.revocations import SqlRevocationLog
from keyturn.stores.sql.store import SqlStore

T0 = 1_795_000_000.0
SQL_ENGINES = ["sqlite", "postgresql", "mariadb"]


@pytest.fixture(params=SQL_ENGINES)
async def replicas(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Callable[[], SqlStore]]:
    """Opens stores on one fresh database, one per call; closes them all."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/feed.db"
    else:
        url = request.getfixturevalue("postgres_url" if request.param == "postgresql" else "mysql_url")
    opened: list[SqlStore] = []

    def open_one() -> SqlStore:
        store = SqlStore.from_url(url, pool_size=4, pool_timeout=10)
        opened.append(store)
        return store

    first = open_one()
    await first.migrate()
    async with first.engine.begin() as conn:
        await conn.execute(sa.text("DELETE FROM kt_revocations"))
    try:
        yield open_one
    finally:
        for store in opened:
            await store.close()


async def page_all(feed: RevocationFeed, cursor: Cursor, now: float) -> tuple[Cursor, set[str]]:
    seen: set[str] = set()
    while True:
        nxt, rows = await feed.since(cursor, now=now)
        seen |= {r.sid for r in rows}
        if nxt == cursor:
            return cursor, seen
        cursor = nxt


async def test_a_revocation_committed_after_a_later_one_was_read_still_reaches_the_reader(
    replicas: Callable[[], SqlStore],
) -> None:
    slow, quick, reader = replicas(), replicas(), replicas()
    # The reader gives up quickly (SQLite's readers wait for its one writer:
    # a failed poll is retried by the verifier, it skips nothing); the
    # writer waits as long as the test holds the first transaction.
    feed = RevocationFeed(SqlRevocationLog(reader.engine, timeout=1.0), ttl=3600)
    delivered: set[str] = set()
    cursor, got = await page_all(feed, Cursor(), T0)
    delivered |= got

    exp = T0 + 3600
    async with slow.engine.connect() as held:
        await held.begin()
        # The writer's clock is a minute behind: its row looks old at once.
        await SqlRevocationLog.append(held, ["sid-early"], exp=exp, now=T0 - 60)
        later = asyncio.ensure_future(
            SqlRevocationLog(quick.engine, timeout=30.0).add_revocations(["sid-later"], exp=exp, now=T0))
        # Let the later revocation commit, or block until the first one does.
        await asyncio.wait({later}, timeout=1.0)
        # A verifier polls long after both rows were written.
        try:
            cursor, got = await page_all(feed, cursor, T0 + 100)
            delivered |= got
        except StoreUnavailable:
            pass
        await held.commit()
    await later
    cursor, got = await page_all(feed, cursor, T0 + 200)
    delivered |= got
    assert delivered == {"sid-early", "sid-later"}
