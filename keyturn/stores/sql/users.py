"""Users on SQL (table ``kt_users``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError

from keyturn.core.users import User
from keyturn.errors import UsernameTaken
from keyturn.stores.sql.base import SqlBase
from keyturn.stores.sql.engine import guarded
from keyturn.stores.sql.schema import users


NAMES_PER_QUERY = 500  # well under every driver's bound-parameter limit


def _user(row: Any) -> User:
    claims = json.loads(row.claims) if row.claims else {}
    return User(
        row.id, row.username, row.password_hash, row.created_at, bool(row.disabled),
        claims=claims if isinstance(claims, dict) else {}, scope=row.scope or None,
    )


def _claims_text(claims: dict[str, Any]) -> str | None:
    return json.dumps(claims, separators=(",", ":"), ensure_ascii=False) if claims else None


def _row(user: User) -> dict[str, Any]:
    return {
        "id": user.id, "username": user.username, "password_hash": user.password_hash,
        "created_at": user.created_at, "disabled": user.disabled,
        "claims": _claims_text(user.claims), "scope": user.scope,
    }


class SqlUsers(SqlBase):
    """UserStore."""

    @guarded()
    async def add_user(self, user: User) -> None:
        try:
            async with self.engine.begin() as conn:
                await conn.execute(users.insert().values(**_row(user)))
        except IntegrityError:
            raise UsernameTaken() from None

    @guarded()
    async def add_users(self, users_: Sequence[User]) -> None:
        if not users_:
            return
        try:
            async with self.engine.begin() as conn:  # one transaction: all rows or none
                await conn.execute(users.insert(), [_row(u) for u in users_])
        except IntegrityError:
            raise UsernameTaken() from None

    @guarded()
    async def user_by_name(self, username: str) -> User | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(users.select().where(users.c.username == username))).first()
        return _user(row) if row else None

    @guarded()
    async def users_by_names(self, usernames: Sequence[str]) -> list[User]:
        found: list[User] = []
        async with self.engine.connect() as conn:
            for i in range(0, len(usernames), NAMES_PER_QUERY):
                chunk = list(usernames[i:i + NAMES_PER_QUERY])
                rows = await conn.execute(users.select().where(users.c.username.in_(chunk)))
                found.extend(_user(r) for r in rows)
        return found

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
    async def upgrade_password_hash(self, user_id: str, *, verified: str, new: str) -> bool:
        # One UPDATE whose WHERE names the old value: the database's own
        # row lock makes the compare and the set one step.
        async with self.engine.begin() as conn:
            res = await conn.execute(
                users.update()
                .where(users.c.id == user_id, users.c.password_hash == verified)
                .values(password_hash=new)
            )
        return bool(res.rowcount)

    @guarded()
    async def set_disabled(self, user_id: str, disabled: bool) -> bool:
        async with self.engine.begin() as conn:
            res = await conn.execute(users.update().where(users.c.id == user_id).values(disabled=disabled))
        return bool(res.rowcount)

    @guarded()
    async def set_claims(self, user_id: str, claims: dict[str, Any], scope: str | None) -> bool:
        async with self.engine.begin() as conn:
            res = await conn.execute(
                users.update().where(users.c.id == user_id).values(claims=_claims_text(claims), scope=scope)
            )
        return bool(res.rowcount)

    @guarded()
    async def list_users(self, limit: int = 1000) -> list[User]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(users.select().order_by(users.c.created_at).limit(limit))
            return [_user(r) for r in rows]
