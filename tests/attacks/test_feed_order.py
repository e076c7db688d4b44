"""The revocation feed's cursor must not skip a row whose id was taken
before a later id committed: two connections commit out of order, and a
Verifier polling between the commits still learns both revocations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from keyturn.resource.verifier import Verifier
from keyturn.stores.memory import MemoryRevocationLog
from keyturn.stores.protocols import Revocation
from keyturn.stores.sql.revocations import SqlRevocationLog
from keyturn.stores.sql.schema import revocations
from tests.attacks.test_resource_edge import ApiFeed, feed_round, verifier_for

SECRET = "rs:rs-secret-rs-secret-rs-secret-0"


async def test_out_of_order_commits_all_reach_the_verifier(make_target: Callable[..., Any]) -> None:
    async with make_target(resource_clients=SECRET) as api:
        log = api.runtime.revocations.log if api.runtime.revocations else None
        feed = ApiFeed()
        verifier = await verifier_for(api, revocations=feed, max_feed_staleness=None)
        verifier._thread = object()  # type: ignore[assignment]  # rounds are explicit
        await feed_round(api, verifier, feed, None)
        now = api.clock.now()
        row = {"exp": now + 600, "at": now}
        if isinstance(log, MemoryRevocationLog):
            top = max((r.id for r in log.rows), default=0)
            log.rows.append(Revocation(top + 2, "sid-late-b", now + 600, now))
            await feed_round(api, verifier, feed, verifier._cursor)
            log.rows.insert(0, Revocation(top + 1, "sid-late-a", now + 600, now))
        else:
            assert isinstance(log, SqlRevocationLog)
            engine = log.engine
            if engine.dialect.name == "sqlite":
                # One writer at a time (and one pooled connection): take the
                # ids in reverse explicitly, committing the higher one first.
                async with engine.begin() as conn:
                    top = (await conn.execute(sa.select(sa.func.coalesce(sa.func.max(revocations.c.id), 0)))).scalar_one()
                    await conn.execute(revocations.insert(), {"id": top + 2, "sid": "sid-late-b", **row})
                await feed_round(api, verifier, feed, verifier._cursor)
                async with engine.begin() as conn:
                    await conn.execute(revocations.insert(), {"id": top + 1, "sid": "sid-late-a", **row})
            else:
                async with engine.connect() as first, engine.connect() as second:
                    await first.execute(revocations.insert(), {"sid": "sid-late-a", **row})  # the lower id, held open
                    await second.execute(revocations.insert(), {"sid": "sid-late-b", **row})
                    await second.commit()
                    await feed_round(api, verifier, feed, verifier._cursor)
                    assert verifier.revoked.is_revoked("sid-late-b", now)
                    await first.commit()
        await feed_round(api, verifier, feed, verifier._cursor)
        await feed_round(api, verifier, feed, verifier._cursor)
        assert verifier.revoked.is_revoked("sid-late-b", now)
        assert verifier.revoked.is_revoked("sid-late-a", now)
