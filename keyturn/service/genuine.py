"""The one genuineness check of a presented refresh token: its shape, its
session's salt (from the facts cache, or one read) and its MAC. Refresh,
revocation and introspection all ask here, so a guess is refused the same
way everywhere and touches nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from keyturn.core import refresh as rt
from keyturn.core.sessions import Session
from keyturn.service.facts import FactsCache, SessionFacts
from keyturn.stores.protocols import SessionStore


@dataclass(frozen=True, slots=True)
class Genuine:
    """A refresh token keyturn issued. ``session`` is the stored session
    when this check had to read it (the facts were not cached), else
    ``None``: a caller that needs the live state reads it then."""

    parsed: rt.ParsedRefreshToken
    facts: SessionFacts
    session: Session | None


class RefreshCheck:
    """Parse, find the salt, check the MAC (constant time, in
    ``core.refresh``). One per ``TokenService``, sharing its facts cache."""

    def __init__(self, sessions: SessionStore, *, mac: rt.RefreshMac, facts: FactsCache) -> None:
        self._sessions = sessions
        self._mac = mac
        self._facts = facts

    async def genuine(self, token: str) -> Genuine | None:
        """The token's parts if keyturn issued it; ``None`` for anything
        else (malformed, an unknown session, a wrong MAC)."""
        parsed = rt.parse(token)
        if parsed is None:
            return None
        session: Session | None = None
        facts = self._facts.get(parsed.session_id)
        if facts is None:
            session = await self._sessions.get_session(parsed.session_id)
            if session is None:
                return None
            facts = self._facts.remember(session)
        if not self._mac.is_genuine(parsed, facts.salt):
            return None
        return Genuine(parsed, facts, session)
