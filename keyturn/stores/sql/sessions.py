"""Sessions on SQL (table ``kt_sessions``, with ``kt_credentials`` beside
it). Reading and rotating are the hot path's (``hot.py``); logins,
revocations, listings and credential bumps are here. Rotation is one
conditional ``UPDATE … WHERE id = :id AND generation = :g``: the database
decides who wins."""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from keyturn.core.sessions import Session, lru_victims
from keyturn.stores.protocols import Rotated
from keyturn.stores.sql.base import SqlBase
from keyturn.stores.sql.engine import guarded
from keyturn.stores.sql.schema import (
    credentials,
    judged_session_from_row,
    session_from_row,
    sessions,
    sessions_with_credentials,
    under_current_credentials,
)

_S = sessions.c


def _owner(user_id: str | None) -> list[sa.ColumnElement[bool]]:
    """The optional owner hint of the SessionStore protocol."""
    return [] if user_id is None else [_S.user_id == user_id]


def _live(now: float) -> sa.ColumnElement[bool]:
    return sa.and_(_S.revoked_at.is_(None), _S.idle_expires_at > now, _S.absolute_expires_at > now)


class SqlSessions(SqlBase):
    """SessionStore."""


    @guarded()
    async def create_session(self, session: Session, *, max_sessions: int, now: float) -> list[str]:
        evicted: list[str] = []
        async with self.engine.begin() as conn:
            if max_sessions > 0:
                # Serialise logins of one user so two cannot both fit under
                # the limit: PostgreSQL by an advisory lock on the user (row
                # locks cannot lock rows not yet inserted), MySQL by the
                # next-key locks of FOR UPDATE (a conflicting insert becomes a
                # deadlock that guarded() retries), SQLite by BEGIN IMMEDIATE.
                if self.engine.dialect.name == "postgresql":
                    await conn.execute(
                        sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(session.user_id, 0)))
                    )
                query = sessions.select().where(_S.user_id == session.user_id, _live(now))
                if self._lock_rows:
                    query = query.with_for_update()
                live = [session_from_row(r) for r in await conn.execute(query)]
                evicted = [s.id for s in lru_victims(live, max_sessions)]
                if evicted:
                    await conn.execute(
                        sessions.update()
                        .where(_S.id.in_(evicted), _S.revoked_at.is_(None))
                        .values(revoked_at=now, revoke_reason="evicted")
                    )
            await conn.execute(
                sessions.insert().values(
                    id=session.id, user_id=session.user_id, salt=session.salt,
                    generation=session.generation, created_at=session.created_at,
                    rotated_at=session.rotated_at, last_used_at=session.last_used_at,
                    idle_expires_at=session.idle_expires_at,
                    absolute_expires_at=session.absolute_expires_at,
                    login_ip=session.login_ip, user_agent=session.user_agent,
                    last_ip=session.last_ip, last_user_agent=session.last_user_agent,
                    dpop_jkt=session.dpop_jkt, credential_version=session.credential_version,
                    client_id=session.client_id,
                )
            )
            if session.grants is not None:
                await self._grants_if_absent(conn, session.user_id, session.grants)
        return evicted

    async def _grants_if_absent(self, conn: AsyncConnection, user_id: str, grants: str) -> None:
        """The user's claims as this login read them, unless some are stored
        already (``SessionStore.set_grants``: never write older ones back)."""
        where = credentials.c.user_id == user_id
        res = await conn.execute(credentials.update().where(where, credentials.c.grants.is_(None)).values(grants=grants))
        if res.rowcount:
            return
        if (await conn.execute(sa.select(credentials.c.user_id).where(where))).first() is not None:
            return
        try:
            async with conn.begin_nested():  # a racing first write wins; this one then has nothing to do
                await conn.execute(credentials.insert().values(user_id=user_id, version=0, changed_at=0.0, grants=grants))
        except IntegrityError:
            pass

    @guarded()
    async def set_grants(self, user_id: str, grants: str | None) -> None:
        for attempt in range(2):
            try:
                async with self.engine.begin() as conn:
                    where = credentials.c.user_id == user_id
                    res = await conn.execute(credentials.update().where(where).values(grants=grants))
                    if res.rowcount == 0:  # version 0 is no row's version: nothing changes for sessions
                        await conn.execute(
                            credentials.insert().values(user_id=user_id, version=0, changed_at=0.0, grants=grants)
                        )
                return
            except IntegrityError:
                if attempt:
                    raise

    @guarded()
    async def get_session(self, session_id: str, *, user_id: str | None = None) -> Session | None:
        found = await self._hot.get_session(session_id)
        return None if found is None or (user_id is not None and found.user_id != user_id) else found

    @guarded()
    async def rotate(
        self,
        session_id: str,
        expected_generation: int,
        *,
        now: float,
        idle_expires_at: float,
        ip: str | None,
        user_agent: str | None,
        user_id: str | None = None,
        to_generation: int | None = None,
    ) -> Rotated | None:
        new = expected_generation + 1 if to_generation is None else to_generation
        # Wall clock, not the injected one: the deadline is checked by the
        # database's clock (see keyturn.stores.sql.hot); it is when this call gives up.
        sent = time.time()
        return await self._hot.rotate(
            session_id, expected_generation, now, idle_expires_at, ip, user_agent, user_id=user_id,
            to_generation=new, sent=sent, deadline=sent + self._timeout,
        )

    @guarded()
    async def revoke_session(
        self, session_id: str, *, now: float, reason: str, user_id: str | None = None
    ) -> bool:
        async with self._one_statement() as conn:
            res = await conn.execute(
                sessions.update()
                .where(_S.id == session_id, _S.revoked_at.is_(None), *_owner(user_id))
                .values(revoked_at=now, revoke_reason=reason)
            )
        return res.rowcount == 1

    @guarded()
    async def revoke_user(self, user_id: str, *, now: float, reason: str, keep: str | None = None) -> list[str]:
        async with self.engine.begin() as conn:
            cond = [_S.user_id == user_id, _S.revoked_at.is_(None), _S.absolute_expires_at > now]
            if keep is not None:
                cond.append(_S.id != keep)
            query = sa.select(_S.id).where(*cond)
            if self._lock_rows:
                query = query.with_for_update()
            ids = list((await conn.execute(query)).scalars())
            if ids:
                await conn.execute(
                    sessions.update()
                    .where(_S.id.in_(ids), _S.revoked_at.is_(None))
                    .values(revoked_at=now, revoke_reason=reason)
                )
        return ids

    @guarded()
    async def list_sessions(self, user_id: str, *, now: float) -> list[Session]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sessions_with_credentials().where(_S.user_id == user_id, _live(now)).order_by(_S.last_used_at.desc())
            )
            return [s for s in map(judged_session_from_row, rows) if s.is_live(now)]

    @guarded()
    async def credential_version(self, user_id: str) -> int:
        async with self.engine.connect() as conn:
            found = (
                await conn.execute(sa.select(credentials.c.version).where(credentials.c.user_id == user_id))
            ).scalar()
        return int(found or 0)

    @guarded()
    async def bump_credential_version(self, user_id: str, *, now: float, keep: str | None = None) -> int:
        for attempt in range(2):
            try:
                async with self.engine.begin() as conn:
                    where = credentials.c.user_id == user_id
                    res = await conn.execute(
                        credentials.update().where(where).values(version=credentials.c.version + 1, changed_at=now)
                    )
                    if res.rowcount == 0:  # the first bump: a racing one gets IntegrityError and retries
                        await conn.execute(credentials.insert().values(user_id=user_id, version=1, changed_at=now))
                    version = int((await conn.execute(sa.select(credentials.c.version).where(where))).scalar_one())
                    if keep is not None:
                        await conn.execute(
                            sessions.update().where(_S.id == keep, _S.user_id == user_id)
                            .values(credential_version=version)
                        )
                return version
            except IntegrityError:
                if attempt:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    @guarded()
    async def list_all_sessions(self, *, now: float, limit: int = 1000) -> list[Session]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sessions_with_credentials().where(_live(now), under_current_credentials())
                .order_by(_S.last_used_at.desc()).limit(limit)
            )
            return [judged_session_from_row(r) for r in rows]

    @guarded()
    async def purge_expired(self, *, now: float) -> int:
        async with self.engine.begin() as conn:
            res = await conn.execute(sessions.delete().where(_S.absolute_expires_at <= now))
        return int(res.rowcount or 0)
