"""Security events on SQL (table ``kt_events``)."""

from __future__ import annotations

from collections.abc import Sequence

from keyturn.stores.protocols import SecurityEvent
from keyturn.stores.sql.base import SqlBase
from keyturn.stores.sql.engine import guarded
from keyturn.stores.sql.schema import events


class SqlEvents(SqlBase):
    """EventStore."""


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
