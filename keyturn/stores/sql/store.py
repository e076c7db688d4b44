"""SQL engine (SQLAlchemy Core, async): SQLite, PostgreSQL, MySQL/MariaDB.

One class serves all four seams (users, sessions, keys, events) because on
SQL they share one database. Rotation is one conditional ``UPDATE … WHERE
id = :id AND generation = :g``: the database decides who wins.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from keyturn.core.sessions import Session, lru_victims, under_credentials
from keyturn.core.users import User
from keyturn.errors import UsernameTaken
from keyturn.stores.protocols import SecurityEvent, StoredKey
from keyturn.stores.sql.engine import guarded, is_sqlite, make_engine, upgrade
from keyturn.stores.sql.hot import HotPath, hot_path_for
from keyturn.stores.sql.security import SqlSecurityStore
from keyturn.stores.sql.schema import (
    credentials,
    events,
    judged_session_from_row,
    session_from_row,
    sessions,
    signing_keys,
    users,
)

_S = sessions.c


def _versioned(query: Any) -> Any:
    """Sessions with their user's current credential version beside them."""
    return (
        query.add_columns(credentials.c.version.label("cv"), credentials.c.changed_at.label("cv_at"))
        .select_from(sessions.outerjoin(credentials, credentials.c.user_id == _S.user_id))
    )


def _current() -> sa.ColumnElement[bool]:
    """Born under the user's current credential version (no row = 0)."""
    version = (
        sa.select(credentials.c.version).where(credentials.c.user_id == _S.user_id)
        .correlate_except(credentials).scalar_subquery()
    )
    return _S.credential_version == sa.func.coalesce(version, 0)


def _user(row: Any) -> User:
    return User(row.id, row.username, row.password_hash, row.created_at, bool(row.disabled))


def _owner(user_id: str | None) -> list[sa.ColumnElement[bool]]:
    """The optional owner hint of the SessionStore protocol."""
    return [] if user_id is None else [_S.user_id == user_id]


def _live(now: float) -> sa.ColumnElement[bool]:
    return sa.and_(_S.revoked_at.is_(None), _S.idle_expires_at > now, _S.absolute_expires_at > now)


class SqlStore:
    """UserStore + SessionStore + KeyStore + EventStore on one SQL database."""

    def __init__(self, engine: AsyncEngine, hot: HotPath, *, timeout: float = 3.0) -> None:
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

    @classmethod
    def from_url(
        cls, url: str, *, timeout: float = 3.0, pool_size: int = 10, pool_timeout: float = 2.0,
        setting: str = "KEYTURN_DATABASE_URL",
    ) -> SqlStore:
        """``setting`` names where ``url`` came from, for the refusal of a URL
        the hot path cannot serve."""
        hot = hot_path_for(url, pool_size=pool_size, timeout=timeout, setting=setting)
        engine = make_engine(url, pool_size=pool_size, pool_timeout=pool_timeout, connect_timeout=timeout)
        return cls(engine, hot, timeout=timeout)

    @property
    def timeout(self) -> float:
        return self._timeout

    def security_state(self) -> SqlSecurityStore:
        """The security state on this database, sharing its hot path."""
        return SqlSecurityStore(self.engine, self._hot, timeout=self._timeout)

    async def migrate(self) -> None:
        await upgrade(self.engine)

    @guarded()
    async def ping(self) -> None:
        """Both ways in: SQLAlchemy's pool and the hot path's connection(s)."""
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
        await self._hot.ping()  # /readyz checks what requests use: the hot path's pool too

    async def close(self) -> None:
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
                )
            )
        return evicted

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
    ) -> bool:
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
                _versioned(sessions.select()).where(_S.user_id == user_id, _live(now)).order_by(_S.last_used_at.desc())
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
                _versioned(sessions.select()).where(_live(now), _current())
                .order_by(_S.last_used_at.desc()).limit(limit)
            )
            return [judged_session_from_row(r) for r in rows]

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
