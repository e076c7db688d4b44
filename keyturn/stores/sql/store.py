"""SQL engine (SQLAlchemy Core, async): SQLite, PostgreSQL, MySQL/MariaDB.

One class serves all four seams (users, sessions, keys, events) because on
SQL they share one database. Rotation is one conditional ``UPDATE … WHERE
id = :id AND generation = :g``: the database decides who wins.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from keyturn.core.sessions import Session, lru_victims
from keyturn.core.users import User
from keyturn.errors import UsernameTaken
from keyturn.service.keys import StoredKey
from keyturn.stores.protocols import SecurityEvent
from keyturn.stores.sql.engine import guarded, is_sqlite, make_engine, upgrade
from keyturn.stores.sql.hot import HotPath, hot_path_for
from keyturn.stores.sql.schema import events, sessions, signing_keys, users

_S = sessions.c


def _session(row: Any) -> Session:
    return Session(
        id=row.id,
        user_id=row.user_id,
        salt=bytes(row.salt),
        created_at=row.created_at,
        absolute_expires_at=row.absolute_expires_at,
        idle_expires_at=row.idle_expires_at,
        generation=row.generation,
        rotated_at=row.rotated_at,
        last_used_at=row.last_used_at,
        login_ip=row.login_ip,
        user_agent=row.user_agent,
        last_ip=row.last_ip,
        last_user_agent=row.last_user_agent,
        dpop_jkt=row.dpop_jkt,
        revoked_at=row.revoked_at,
        revoke_reason=row.revoke_reason,
    )


def _user(row: Any) -> User:
    return User(row.id, row.username, row.password_hash, row.created_at, bool(row.disabled))


def _owner(user_id: str | None) -> list[sa.ColumnElement[bool]]:
    """The optional owner hint of the SessionStore protocol."""
    return [] if user_id is None else [_S.user_id == user_id]


def _live(now: float) -> sa.ColumnElement[bool]:
    return sa.and_(_S.revoked_at.is_(None), _S.idle_expires_at > now, _S.absolute_expires_at > now)


class SqlStore:
    """UserStore + SessionStore + KeyStore + EventStore on one SQL database."""

    def __init__(self, engine: AsyncEngine, *, timeout: float = 3.0, hot: HotPath | None = None) -> None:
        self.engine = engine
        self._timeout = timeout
        self._hot = hot
        self._lock_rows = not is_sqlite(engine)  # SQLite's BEGIN IMMEDIATE already serialises
        # One statement needs no transaction around it. On PostgreSQL
        # (asyncpg) autocommit is a client-side flag, so the hot path (read,
        # rotate, revoke) skips BEGIN/COMMIT: one round trip instead of three.
        # MySQL would pay two extra commands to switch, so it keeps BEGIN.
        self._autocommit = (
            engine.execution_options(isolation_level="AUTOCOMMIT")
            if engine.dialect.name == "postgresql" else None
        )

    def _one_statement(self) -> contextlib.AbstractAsyncContextManager[AsyncConnection]:
        """A connection for one self-committing statement."""
        if self._autocommit is not None:
            return self._autocommit.connect()
        return self.engine.begin()

    def _read(self) -> contextlib.AbstractAsyncContextManager[AsyncConnection]:
        return self._autocommit.connect() if self._autocommit is not None else self.engine.connect()

    @classmethod
    def from_url(
        cls, url: str, *, timeout: float = 3.0, pool_size: int = 10, pool_timeout: float = 2.0, hot_path: bool = True
    ) -> SqlStore:
        engine = make_engine(url, pool_size=pool_size, pool_timeout=pool_timeout, connect_timeout=timeout)
        hot = hot_path_for(url, pool_size=pool_size, timeout=timeout) if hot_path else None
        return cls(engine, timeout=timeout, hot=hot)

    async def migrate(self) -> None:
        await upgrade(self.engine)

    @guarded()
    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def close(self) -> None:
        if self._hot is not None:
            await self._hot.close()
        await self.engine.dispose()

    # --- users ------------------------------------------------------------

    @guarded()
    async def add_user(self, user: User) -> None:
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    users.insert().values(
                        id=user.id, username=user.username, password_hash=user.password_hash,
                        created_at=user.created_at, disabled=user.disabled,
                    )
                )
        except IntegrityError:
            raise UsernameTaken() from None

    @guarded()
    async def user_by_name(self, username: str) -> User | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(users.select().where(users.c.username == username))).first()
        return _user(row) if row else None

    @guarded()
    async def user_by_id(self, user_id: str) -> User | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(users.select().where(users.c.id == user_id))).first()
        return _user(row) if row else None

    @guarded()
    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(users.update().where(users.c.id == user_id).values(password_hash=password_hash))

    @guarded()
    async def set_disabled(self, user_id: str, disabled: bool) -> bool:
        async with self.engine.begin() as conn:
            res = await conn.execute(users.update().where(users.c.id == user_id).values(disabled=disabled))
        return bool(res.rowcount)

    @guarded()
    async def list_users(self, limit: int = 1000) -> list[User]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(users.select().order_by(users.c.created_at).limit(limit))
            return [_user(r) for r in rows]

    # --- sessions ---------------------------------------------------------

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
                live = [_session(r) for r in await conn.execute(query)]
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
                    dpop_jkt=session.dpop_jkt,
                )
            )
        return evicted

    @guarded()
    async def get_session(self, session_id: str, *, user_id: str | None = None) -> Session | None:
        if self._hot is not None:
            found = await self._hot.get_session(session_id)
            return None if found is None or (user_id is not None and found.user_id != user_id) else found
        async with self._read() as conn:
            row = (await conn.execute(sessions.select().where(_S.id == session_id, *_owner(user_id)))).first()
        return _session(row) if row else None

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
    ) -> bool:
        if self._hot is not None:
            return await self._hot.rotate(
                session_id, expected_generation, now, idle_expires_at, ip, user_agent, user_id=user_id
            )
        # One conditional UPDATE: the database decides the single winner
        # (a concurrent loser re-evaluates the WHERE and matches nothing).
        async with self._one_statement() as conn:
            res = await conn.execute(
                sessions.update()
                .where(
                    _S.id == session_id,
                    *_owner(user_id),
                    _S.generation == expected_generation,
                    _S.revoked_at.is_(None),
                    _S.idle_expires_at > now,
                )
                .values(
                    generation=expected_generation + 1, rotated_at=now, last_used_at=now,
                    idle_expires_at=idle_expires_at, last_ip=ip, last_user_agent=user_agent,
                )
            )
        return res.rowcount == 1

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
                sessions.select().where(_S.user_id == user_id, _live(now)).order_by(_S.last_used_at.desc())
            )
            return [_session(r) for r in rows]

    @guarded()
    async def list_all_sessions(self, *, now: float, limit: int = 1000) -> list[Session]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sessions.select().where(_live(now)).order_by(_S.last_used_at.desc()).limit(limit)
            )
            return [_session(r) for r in rows]

    @guarded()
    async def purge_expired(self, *, now: float) -> int:
        async with self.engine.begin() as conn:
            res = await conn.execute(sessions.delete().where(_S.absolute_expires_at <= now))
        return int(res.rowcount or 0)

    # --- signing keys -----------------------------------------------------

    @guarded()
    async def list_keys(self) -> list[StoredKey]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(signing_keys.select().order_by(signing_keys.c.created_at))
            return [
                StoredKey(
                    r.kid, r.alg, bytes(r.private_enc), r.public_jwk, r.created_at, r.retired_at,
                    r.activates_at, r.revoked_at,
                )
                for r in rows
            ]

    @guarded()
    async def add_key(self, key: StoredKey) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                signing_keys.insert().values(
                    kid=key.kid, alg=key.alg, private_enc=key.private_enc,
                    public_jwk=key.public_jwk, created_at=key.created_at, retired_at=key.retired_at,
                    activates_at=key.activates_at, revoked_at=key.revoked_at,
                )
            )

    @guarded()
    async def add_first_key(self, key: StoredKey) -> bool:
        name = self.engine.dialect.name
        async with self.engine.connect() as conn:
            if name == "mysql":
                await conn.execute(sa.text("SELECT GET_LOCK('keyturn_keys', 10)"))
                await conn.commit()  # the lock is per connection; end the autobegun transaction
            try:
                async with conn.begin():
                    if name == "postgresql":
                        await conn.execute(sa.text("SELECT pg_advisory_xact_lock(727275)"))
                    found = (
                        await conn.execute(
                            sa.select(signing_keys.c.kid).where(
                                signing_keys.c.alg == key.alg, signing_keys.c.retired_at.is_(None)
                            ).limit(1)
                        )
                    ).first()
                    if found is not None:
                        return False
                    await conn.execute(
                        signing_keys.insert().values(
                            kid=key.kid, alg=key.alg, private_enc=key.private_enc,
                            public_jwk=key.public_jwk, created_at=key.created_at, retired_at=key.retired_at,
                        )
                    )
                    return True
            finally:
                if name == "mysql":
                    await conn.execute(sa.text("SELECT RELEASE_LOCK('keyturn_keys')"))
                    await conn.commit()

    @guarded()
    async def retire_keys_except(self, kid: str, now: float) -> int:
        async with self.engine.begin() as conn:
            res = await conn.execute(
                signing_keys.update()
                .where(signing_keys.c.kid != kid, signing_keys.c.retired_at.is_(None))
                .values(retired_at=now)
            )
        return int(res.rowcount or 0)

    @guarded()
    async def revoke_key(self, kid: str, now: float) -> bool:
        async with self.engine.begin() as conn:
            res = await conn.execute(
                signing_keys.update()
                .where(signing_keys.c.kid == kid, signing_keys.c.revoked_at.is_(None))
                .values(revoked_at=now, retired_at=sa.func.coalesce(signing_keys.c.retired_at, now))
            )
        return bool(res.rowcount)

    # --- security events --------------------------------------------------

    @guarded()
    async def add_event(self, event: SecurityEvent) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                events.insert().values(
                    type=event.type, at=event.at, user_id=event.user_id, session_id=event.session_id,
                    ip=event.ip, user_agent=event.user_agent, detail=event.detail,
                )
            )

    @guarded()
    async def list_events(self, *, user_id: str | None = None, limit: int = 100) -> Sequence[SecurityEvent]:
        query = events.select().order_by(events.c.id.desc()).limit(limit)
        if user_id is not None:
            query = query.where(events.c.user_id == user_id)
        async with self.engine.connect() as conn:
            rows = list(await conn.execute(query))
        return [
            SecurityEvent(r.type, r.at, r.user_id, r.session_id, r.ip, r.user_agent, r.detail)
            for r in reversed(rows)
        ]
