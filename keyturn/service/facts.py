"""The immutable part of each session, cached per process: a refresh of a
session this replica has seen goes straight to the store's compare-and-set
(one round trip). Login fills the cache, refresh reads and fills it; one
cache per ``TokenService``, handed to both.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from keyturn.core.sessions import Session

MAX_ENTRIES = 50_000  # oldest first out: a forgotten session costs one read


@dataclass(frozen=True, slots=True)
class SessionFacts:
    """What never changes in a session, so a stale copy is never wrong."""

    user_id: str
    salt: bytes
    absolute_expires_at: float
    login_ip: str | None
    user_agent: str | None
    dpop_jkt: str | None = None
    client_id: str | None = None

    @classmethod
    def of(cls, s: Session) -> SessionFacts:
        return cls(s.user_id, s.salt, s.absolute_expires_at, s.login_ip, s.user_agent, s.dpop_jkt, s.client_id)


class FactsCache:
    """Session id -> ``SessionFacts``, bounded; the first remembered is the
    first forgotten."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._facts: OrderedDict[str, SessionFacts] = OrderedDict()
        self._max = max_entries

    def get(self, session_id: str) -> SessionFacts | None:
        return self._facts.get(session_id)

    def remember(self, session: Session) -> SessionFacts:
        facts = SessionFacts.of(session)
        self._facts[session.id] = facts
        if len(self._facts) > self._max:
            self._facts.popitem(last=False)
        return facts

    def clear(self) -> None:
        """Forget everything, as a replica that never saw these sessions."""
        self._facts.clear()
