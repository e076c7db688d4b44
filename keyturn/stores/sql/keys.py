"""Signing keys on SQL (table ``kt_signing_keys``)."""

from __future__ import annotations

import sqlalchemy as sa

from keyturn.stores.protocols import StoredKey
from keyturn.stores.sql.base import SqlBase
from keyturn.stores.sql.engine import guarded
from keyturn.stores.sql.schema import signing_keys


class SqlKeys(SqlBase):
    """KeyStore."""


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
