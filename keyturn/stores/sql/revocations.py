"""The revocation feed's log on the SQL database (table ``kt_revocations``),
so every replica serves the same feed.

Ids must become visible in the order they are taken, or a reader that has
seen id 8 would page past id 7 committing later, and every verifier would
skip it. A sequence or auto-increment hands ids out at insert, not at
commit; so every insert first updates the one row of ``kt_feed_lock`` in the
same transaction. Writers queue on that row lock: the next insert takes its
id only after the previous transaction committed (or rolled back), and any
snapshot that sees an id sees every lower one. SQLite has one writer anyway;
the update costs nothing there.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from keyturn.stores.protocols import Revocation
from keyturn.stores.sql.engine import guarded
from keyturn.stores.sql.schema import feed_lock, revocations

_R = revocations.c


class SqlRevocationLog:
    def __init__(self, engine: AsyncEngine, *, timeout: float = 3.0) -> None:
        self.engine = engine
        self._timeout = timeout

    @guarded()
    async def add_revocations(self, sids: list[str], *, exp: float, now: float) -> None:
        async with self.engine.begin() as conn:
            await self.append(conn, sids, exp=exp, now=now)

    @staticmethod
    async def append(conn: AsyncConnection, sids: list[str], *, exp: float, now: float) -> None:
        """The entries, in the caller's open transaction (committed by it),
        behind the feed lock (held until that transaction ends)."""
        taken = await conn.execute(feed_lock.update().where(feed_lock.c.id == 1).values(n=feed_lock.c.n + 1))
        if not taken.rowcount:
            # The row is made by the migration; a database that lost it gets
            # it back (the insert locks it as well).
            await conn.execute(feed_lock.insert().values(id=1, n=1))
        await conn.execute(revocations.insert(), [{"sid": s, "exp": exp, "at": now} for s in sids])

    @guarded()
    async def revocations_after(self, after_id: int, *, now: float, limit: int) -> list[Revocation]:
        query = (
            sa.select(_R.id, _R.sid, _R.exp, _R.at)
            .where(_R.id > after_id, _R.exp > now)
            .order_by(_R.id)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            rows = await conn.execute(query)
            return [Revocation(r.id, r.sid, r.exp, r.at) for r in rows]

    @guarded()
    async def purge_revocations(self, *, now: float) -> int:
        async with self.engine.begin() as conn:
            res = await conn.execute(revocations.delete().where(_R.exp <= now))
        return int(res.rowcount or 0)
