"""Ending sessions: logout in its three forms, a user's own session list and
revoke, an operator's revoke, and the steps accounts and refresh take when
they end sessions (password change, disabling a user, eviction at login,
reuse detection).

Every path denylists the sessions' access tokens *before* revoking them (so
no window exists where a revoked session's token still passes) and tells the
revocation feed after the store committed.
"""

from __future__ import annotations

from keyturn.clock import Clock
from keyturn.core.sessions import Session
from keyturn.core.tokens import AccessClaims
from keyturn.errors import NotFound
from keyturn.service.events import EventRecorder
from keyturn.service.feed import RevocationNotifier
from keyturn.service.guards import AccessDenylist
from keyturn.stores.protocols import SessionStore


class SessionEnding:
    """Revoking sessions and killing their access tokens, in that order."""

    def __init__(
        self, sessions: SessionStore, *, denylist: AccessDenylist, revocations: RevocationNotifier,
        events: EventRecorder, clock: Clock,
    ) -> None:
        self.sessions = sessions
        self.denylist = denylist
        self.revocations = revocations
        self.events = events
        self.clock = clock

    async def end_user_sessions(self, user_id: str, now: float, reason: str, keep: str | None = None) -> list[str]:
        """Revoke every session of a user but ``keep``, their access tokens
        first: live ones are denylisted before the revocation, and any the
        revocation found besides (idle-expired, or created meanwhile) after.
        The caller tells the feed (``notify_revoked``)."""
        live = [s.id for s in await self.sessions.list_sessions(user_id, now=now) if s.id != keep]
        await self.denylist.deny_sessions(live, now)
        ids = await self.sessions.revoke_user(user_id, now=now, reason=reason, keep=keep)
        await self.denylist.deny_sessions(set(ids) - set(live), now)
        return ids

    async def end(self, session_id: str, now: float, *, reason: str, user_id: str | None = None) -> bool:
        """Revoke one session and its access tokens. True if it was live
        (only then is the feed told: one notice per ending, however many
        requests raced to end it)."""
        await self.denylist.deny_sessions([session_id], now)
        done = await self.sessions.revoke_session(session_id, now=now, reason=reason, user_id=user_id)
        if done:
            await self.notify_revoked([session_id], now)
        return done

    async def evicted(self, session_ids: list[str], now: float) -> None:
        """Sessions the store revoked itself (a login past the per-user
        limit): their access tokens die too."""
        await self.denylist.deny_sessions(session_ids, now)
        await self.notify_revoked(session_ids, now)

    async def notify_revoked(self, sids: list[str], now: float) -> None:
        """Tell the revocation feed, after the store committed: resource
        servers then reject the sessions' access tokens before they expire."""
        if sids:
            await self.revocations.notify(sids, now=now)

    async def end_session(self, session_id: str, *, reason: str, user_id: str | None = None) -> bool:
        """Revoke one session and its access tokens (admin, RFC 7009).
        True if it was live."""
        return await self.end(session_id, self.clock.now(), reason=reason, user_id=user_id)

    async def logout(self, claims: AccessClaims, *, ip: str | None = None) -> None:
        now = self.clock.now()
        await self.denylist.deny_sessions([claims.sid], now)
        await self.sessions.revoke_session(claims.sid, now=now, reason="logout", user_id=claims.sub)
        await self.notify_revoked([claims.sid], now)
        await self.events.record("logout", now, user_id=claims.sub, session_id=claims.sid, ip=ip)

    async def logout_all(self, claims: AccessClaims, *, ip: str | None = None) -> list[str]:
        now = self.clock.now()
        # First the version, so a login racing this leaves no session behind.
        await self.sessions.bump_credential_version(claims.sub, now=now)
        ids = await self.end_user_sessions(claims.sub, now, "logout_all")
        await self.notify_revoked([*ids, claims.sid], now)
        await self.events.record("logout_all", now, user_id=claims.sub, session_id=claims.sid, ip=ip, sessions=len(ids))
        return ids

    async def logout_others(self, claims: AccessClaims, *, ip: str | None = None) -> list[str]:
        now = self.clock.now()
        ids = await self.end_user_sessions(claims.sub, now, "logout_others", keep=claims.sid)
        await self.notify_revoked(ids, now)
        await self.events.record("logout_others", now, user_id=claims.sub, session_id=claims.sid, ip=ip, sessions=len(ids))
        return ids

    async def list_sessions(self, user_id: str) -> list[Session]:
        return await self.sessions.list_sessions(user_id, now=self.clock.now())

    async def revoke_own_session(self, claims: AccessClaims, session_id: str) -> None:
        session = await self.sessions.get_session(session_id, user_id=claims.sub) if len(session_id) <= 64 else None
        if session is None or session.user_id != claims.sub or not session.is_live(self.clock.now()):
            raise NotFound("no such session")  # another user's session looks the same
        now = self.clock.now()
        await self.denylist.deny_sessions([session_id], now)
        await self.sessions.revoke_session(session_id, now=now, reason="user_revoked", user_id=claims.sub)
        await self.notify_revoked([session_id], now)
        await self.events.record("session_revoked", now, user_id=claims.sub, session_id=session_id, by_session=claims.sid)

    async def admin_revoke_session(self, session_id: str) -> bool:
        """An operator's revoke (``keyturn sessions revoke``). True if it was
        live. Recorded like every other ending of a session: an operator's
        action belongs in the audit trail as much as a user's."""
        session = await self.sessions.get_session(session_id)
        done = await self.end_session(session_id, reason="admin")
        if done and session is not None:
            await self.events.record(
                "session_revoked", self.clock.now(), user_id=session.user_id, session_id=session_id, by="admin"
            )
        return done
