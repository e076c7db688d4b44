"""Users on SQL (table ``kt_users``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError

from keyturn.core.users import User
from keyturn.errors import UsernameTaken
from keyturn.stores.sql.base import SqlBase
from keyturn.stores.sql.engine import guarded
from keyturn.stores.sql.schema import users


def _user(row: Any) -> User:
    return User(row.id, row.username, row.password_hash, row.created_at, bool(row.disabled))


class SqlUsers(SqlBase):
    """UserStore."""


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

    @guarded()
    async def delete_user(self, user_id: str) -> bool:
        async with self.engine.begin() as conn:
            res = await conn.execute(users.delete().where(users.c.id == user_id))
        return bool(res.rowcount)
