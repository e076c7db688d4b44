"""The RevocationLog contract (the revocation feed's storage) on every
database engine."""

from __future__ import annotations

from typing import Any

T0 = 1_795_000_000.0


async def test_entries_come_back_by_id_until_they_expire(revocation_log: Any) -> None:
    await revocation_log.add_revocations(["s1", "s2"], exp=T0 + 60, now=T0)
    await revocation_log.add_revocations(["s3"], exp=T0 + 10, now=T0 + 1)
    rows = await revocation_log.revocations_after(0, now=T0 + 2, limit=100)
    assert [r.sid for r in rows] == ["s1", "s2", "s3"]
    assert [r.id for r in rows] == sorted(r.id for r in rows) and len({r.id for r in rows}) == 3
    assert rows[0].exp == T0 + 60 and rows[2].at == T0 + 1
    after = await revocation_log.revocations_after(rows[0].id, now=T0 + 2, limit=1)
    assert [r.sid for r in after] == ["s2"]
    assert [r.sid for r in await revocation_log.revocations_after(0, now=T0 + 10, limit=100)] == ["s1", "s2"]


async def test_purge_drops_only_expired_entries(revocation_log: Any) -> None:
    await revocation_log.add_revocations(["old"], exp=T0 + 5, now=T0)
    await revocation_log.add_revocations(["new"], exp=T0 + 50, now=T0)
    assert await revocation_log.purge_revocations(now=T0 + 5) == 1
    assert [r.sid for r in await revocation_log.revocations_after(0, now=T0, limit=10)] == ["new"]
