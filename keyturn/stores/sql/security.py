"""The shared security state on SQL (SQLite, PostgreSQL, MySQL/MariaDB).

Upserts are written portably — conditional UPDATE, else INSERT inside a
savepoint, else UPDATE again — so two replicas racing on one key never both
"win" and no dialect-specific statement is needed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from keyturn.core.throttle import Counter
from keyturn.errors import ClientNameTaken
from keyturn.stores.protocols import ResourceClient
from keyturn.stores.sql.engine import guarded
from keyturn.stores.sql.hot import HotPath
from keyturn.stores.sql.schema import counters, denylist, dpop_jti, resource_clients

_C, _D, _J, _R = counters.c, denylist.c, dpop_jti.c, resource_clients.c
_RESERVE_TRIES = 8  # a turn is lost only to a purge or a first insert landing in between


async def _insert_or_false(conn: AsyncConnection, stmt: Any) -> bool:
    try:
        async with conn.begin_nested():
            await conn.execute(stmt)
        return True
    except IntegrityError:
        return False


class SqlSecurityStore:
    """CounterStore + Denylist + ReplayCache + ResourceClientStore."""

    def __init__(self, engine: AsyncEngine, hot: HotPath, *, timeout: float = 3.0) -> None:
        self.engine = engine
        self._timeout = timeout
        self._hot = hot  # the per-request denylist check is the hot path's

    # --- counters -----------------------------------------------------------

    @guarded()
    async def counters(self, keys: Sequence[str], *, now: float) -> dict[str, Counter]:
        if not keys:
            return {}
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(_C.key, _C.count, _C.last_at)
                .where(_C.key.in_(list(keys)), _C.expires_at > now, _C.count > 0)
            )  # a row at zero is a reset counter (see ``reset``)
            # Positional: ``Row.count`` is tuple.count, not the column.
            return {str(r[0]): Counter(int(r[1]), float(r[2])) for r in rows}

    @guarded()
    async def increment(self, key: str, *, now: float, expires_at: float) -> Counter:
        bump = (
            counters.update()
            .where(_C.key == key)
            .values(
                count=sa.case((_C.expires_at <= now, 1), else_=_C.count + 1),
                last_at=now,
                expires_at=expires_at,
            )
        )
        async with self.engine.begin() as conn:
            res = await conn.execute(bump)
            if res.rowcount != 1:
                fresh = counters.insert().values(key=key, count=1, last_at=now, expires_at=expires_at)
                if not await _insert_or_false(conn, fresh):
                    await conn.execute(bump)  # another replica inserted first
            row = (await conn.execute(sa.select(_C.count, _C.last_at).where(_C.key == key))).one()
        return Counter(int(row[0]), float(row[1]))

    @guarded()
    async def reset(self, key: str) -> None:
        # To zero, not deleted: a row that vanished between a racing
        # reservation's statements would read as "at the limit" there.
        # ``counters`` hides rows at zero; the purge removes them at expiry.
        async with self.engine.begin() as conn:
            await conn.execute(counters.update().where(_C.key == key).values(count=0))

    @guarded()
    async def reserve(self, key: str, *, limit: int, now: float, expires_at: float) -> Counter | None:
        # One conditional UPDATE: the row lock serialises racing callers and
        # each re-checks the count it would raise (PostgreSQL, InnoDB and
        # SQLite all re-evaluate the WHERE on the current row).
        bump = (
            counters.update()
            .where(_C.key == key, sa.or_(_C.expires_at <= now, _C.count < limit))
            .values(
                count=sa.case((_C.expires_at <= now, 1), else_=_C.count + 1),
                last_at=now,
                expires_at=expires_at,
            )
        )
        # Until the slot is taken or the limit is seen: a row created or
        # purged by someone else between our statements must not read as
        # "at the limit" (a spurious 429).
        for _ in range(_RESERVE_TRIES):
            taken, row = await self._bump(bump, key)
            if taken is not None or limit < 1:
                return taken
            if row is not None:
                count, expires = row
                if count >= limit and expires > now:
                    return None  # the limit, as the row says it now
                continue  # the row changed under the UPDATE: look again
            # No row: create it already holding this reservation. Losing that
            # race (someone else created it) means the UPDATE decides next
            # turn. No savepoint: a MySQL deadlock would roll back the
            # savepoint with the transaction.
            with contextlib.suppress(IntegrityError):
                async with self.engine.begin() as conn:
                    await conn.execute(counters.insert().values(key=key, count=1, last_at=now, expires_at=expires_at))
                return Counter(1, now)
        return None

    async def _bump(self, bump: Any, key: str) -> tuple[Counter | None, tuple[int, float] | None]:
        """The conditional UPDATE's slot, and the row (count, expiry) as
        read after it, ``None`` when there is none."""
        async with self.engine.begin() as conn:
            updated = (await conn.execute(bump)).rowcount == 1
            row = (await conn.execute(
                sa.select(_C.count, _C.last_at, _C.expires_at).where(_C.key == key)
            )).one_or_none()
        if row is None:
            return None, None
        return (Counter(int(row[0]), float(row[1])) if updated else None), (int(row[0]), float(row[2]))

    @guarded()
    async def release(self, key: str, *, now: float) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                counters.update().where(_C.key == key, _C.count > 0, _C.expires_at > now).values(count=_C.count - 1)
            )

    # --- denylist -----------------------------------------------------------

    @guarded()
    async def deny(self, keys: Sequence[str], *, now: float, expires_at: float) -> None:
        async with self.engine.begin() as conn:
            for key in dict.fromkeys(keys):
                row = denylist.insert().values(key=key, created_at=now, expires_at=expires_at)
                if await _insert_or_false(conn, row):
                    continue
                # Present already: extend, and restart an entry that had lapsed.
                await conn.execute(
                    denylist.update()
                    .where(_D.key == key, _D.expires_at <= now)
                    .values(created_at=now, expires_at=expires_at)
                )
                await conn.execute(
                    denylist.update().where(_D.key == key, _D.expires_at < expires_at).values(expires_at=expires_at)
                )

    @guarded()
    async def any_denied(self, keys: Sequence[str], *, now: float) -> bool:
        return await self._hot.any_denied(list(keys), now)

    # --- DPoP jti replay cache ------------------------------------------------

    @guarded()
    async def first_use(self, key: str, *, now: float, expires_at: float) -> bool:
        async with self.engine.begin() as conn:
            if await _insert_or_false(conn, dpop_jti.insert().values(key=key, expires_at=expires_at)):
                return True
            res = await conn.execute(
                dpop_jti.update().where(_J.key == key, _J.expires_at <= now).values(expires_at=expires_at)
            )
            return res.rowcount == 1

    # --- resource-server clients ----------------------------------------------

    @guarded()
    async def add_client(self, client: ResourceClient) -> None:
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    resource_clients.insert().values(
                        id=client.id, name=client.name, secret_hash=client.secret_hash,
                        created_at=client.created_at, disabled=client.disabled, scope=client.scope,
                    )
                )
        except IntegrityError:
            raise ClientNameTaken() from None

    @guarded()
    async def client_by_id(self, client_id: str) -> ResourceClient | None:
        async with self.engine.connect() as conn:
            r = (await conn.execute(resource_clients.select().where(_R.id == client_id))).first()
        return ResourceClient(r.id, r.name, r.secret_hash, r.created_at, bool(r.disabled), r.scope) if r else None

    @guarded()
    async def list_clients(self) -> list[ResourceClient]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(resource_clients.select().order_by(_R.created_at))
            return [ResourceClient(r.id, r.name, r.secret_hash, r.created_at, bool(r.disabled), r.scope) for r in rows]

    # --- housekeeping ---------------------------------------------------------

    @guarded()
    async def purge_security(self, *, now: float) -> int:
        n = 0
        async with self.engine.begin() as conn:
            for table in (counters, denylist, dpop_jti):
                res = await conn.execute(table.delete().where(table.c.expires_at <= now))
                n += int(res.rowcount or 0)
        return n
