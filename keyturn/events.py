"""Security events: stored, and written as one JSON log line each.

Recording never fails the request that caused it: an event the store cannot
take is still logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson

from keyturn.errors import StoreUnavailable
from keyturn.stores.base import EventStore, SecurityEvent

log = logging.getLogger("keyturn.events")


class EventRecorder:
    def __init__(self, store: EventStore) -> None:
        self._store = store
        # Synchronous observers (metrics); they must not raise or block.
        self.listeners: list[Callable[[str, dict[str, Any]], None]] = []

    async def record(
        self,
        type: str,
        at: float,
        *,
        user_id: str | None = None,
        session_id: str | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
        **detail: Any,
    ) -> SecurityEvent:
        event = SecurityEvent(
            type=type, at=at, user_id=user_id, session_id=session_id, ip=ip,
            user_agent=user_agent, detail=orjson.dumps(detail).decode(),
        )
        log.info(
            "security event %s",
            type,
            extra={"event": type, "user_id": user_id, "session_id": session_id, "ip": ip, "detail": detail},
        )
        for listener in self.listeners:
            listener(type, detail)
        try:
            await self._store.add_event(event)
        except StoreUnavailable:
            log.error("could not store security event %s", type)
        return event
