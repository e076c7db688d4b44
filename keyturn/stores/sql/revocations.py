"""The revocation feed's log on the SQL database (table ``kt_revocations``),
so every replica serves the same feed."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from keyturn.stores.protocols import Revocation
from keyturn.stores.sql.engine import guarded
from keyturn.stores.sql.schema import revocations

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
        """The entries, in the caller's open transaction (committed by it)."""
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
