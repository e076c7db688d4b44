"""Security events: stored, written as one JSON log line each, and handed
to an optional sink (the webhook queue).

Recording never fails the request that caused it: an event the store cannot
take is still logged, and a sink that fails is logged and ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from keyturn.errors import StoreUnavailable
from keyturn.logs import CURRENT
from keyturn.stores.protocols import EventStore, SecurityEvent

log = logging.getLogger("keyturn.events")


Listener = Callable[[str, dict[str, Any]], None]


class EventRecorder:
    def __init__(
        self, store: EventStore, sink: Callable[[dict[str, Any]], object] | None, *,
        listeners: Sequence[Listener] = (),
    ) -> None:
        """``sink``: where each event goes besides the store and the log
        (the webhook queue), or ``None``. ``listeners``: synchronous
        observers of ``(type, detail)`` (the app's metrics), given at build
        time (``build_runtime(event_listeners=...)``); they must not raise
        or block."""
        self._store = store
        self._sink = sink
        self._listeners = list(listeners)

    def listen(self, listener: Listener) -> None:
        """Add an observer to a recorder built without it: only for an app
        mounted on a runtime its embedder built first (``create_app(runtime=...)``)."""
        self._listeners.append(listener)

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
        ctx = CURRENT.get()
        if ctx is not None and ctx.peer is not None and ip is not None and "peer" not in detail:
            detail["peer"] = ctx.peer  # the proxy that spoke for ``ip``
        event = SecurityEvent(
            type=type, at=at, user_id=user_id, session_id=session_id, ip=ip,
            user_agent=user_agent, detail=orjson.dumps(detail).decode(),
        )
        line = event_dict(event, detail)
        # The event's fields go on the log line itself (the JSON formatter
        # writes one flat object), so log shippers need no parsing rules.
        log.info("security event %s", type, extra={"fields": {"event": type, **line}})
        for listener in self._listeners:
            listener(type, detail)
        try:
            await self._store.add_event(event)
        except StoreUnavailable:
            log.error("could not store security event %s", type)
        if self._sink is not None:
            try:
                self._sink(line)
            except Exception:  # noqa: BLE001 - a sink never fails the request
                log.exception("security event sink failed")
        return event


def event_dict(event: SecurityEvent, detail: dict[str, Any] | None = None) -> dict[str, Any]:
    """An event as one JSON object (log line, webhook body, CLI output)."""
    return {
        "type": event.type,
        "at": event.at,
        "user_id": event.user_id,
        "session_id": event.session_id,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "detail": detail if detail is not None else orjson.loads(event.detail),
    }
