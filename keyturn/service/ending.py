"""Ending sessions: logout in its three forms, a user's own session list,
password change, disabling a user, an operator's revoke.

Every path denylists the sessions' access tokens *before* revoking them (so
no window exists where a revoked session's token still passes) and tells the
revocation feed after the store committed. Mixed into ``TokenService``.
"""

from __future__ import annotations

from keyturn.clock import Clock
from keyturn.config import Settings
from keyturn.core.sessions import Session
from keyturn.core.tokens import AccessClaims
from keyturn.core.users import User, check_new_password, check_password_shape, normalize_username
from keyturn.errors import InvalidCredentials, NotFound
from keyturn.service.events import EventRecorder
from keyturn.service.feed import RevocationNotifier
from keyturn.service.guards import AccessDenylist, Throttle
from keyturn.service.passwords import PasswordHasher
from keyturn.stores.protocols import SessionStore, UserStore


class SessionManagement:
    settings: Settings
    users: UserStore
    sessions: SessionStore
    passwords: PasswordHasher
    events: EventRecorder
    clock: Clock
    throttle: Throttle
    denylist: AccessDenylist
    revocations: RevocationNotifier

    async def _end_sessions(self, user_id: str, now: float, reason: str, keep: str | None = None) -> list[str]:
        """Revoke every session of a user but ``keep``, their access tokens
        first: live ones are denylisted before the revocation, and any the
        revocation found besides (idle-expired, or created meanwhile) after."""
        live = [s.id for s in await self.sessions.list_sessions(user_id, now=now) if s.id != keep]
        await self.denylist.deny_sessions(live, now)
        ids = await self.sessions.revoke_user(user_id, now=now, reason=reason, keep=keep)
        await self.denylist.deny_sessions(set(ids) - set(live), now)
        return ids

    async def end_session(self, session_id: str, *, reason: str, user_id: str | None = None) -> bool:
        """Revoke one session and its access tokens (admin, RFC 7009).
        True if it was live."""
        now = self.clock.now()
        await self.denylist.deny_sessions([session_id], now)
        done = await self.sessions.revoke_session(session_id, now=now, reason=reason, user_id=user_id)
        if done:
            await self._revoked([session_id], now)
        return done

    async def logout(self, claims: AccessClaims, *, ip: str | None = None) -> None:
        now = self.clock.now()
        await self.denylist.deny_sessions([claims.sid], now)
        await self.sessions.revoke_session(claims.sid, now=now, reason="logout", user_id=claims.sub)
        await self._revoked([claims.sid], now)
        await self.events.record("logout", now, user_id=claims.sub, session_id=claims.sid, ip=ip)

    async def logout_all(self, claims: AccessClaims, *, ip: str | None = None) -> list[str]:
        now = self.clock.now()
        # First the version, so a login racing this leaves no session behind.
        await self.sessions.bump_credential_version(claims.sub, now=now)
        ids = await self._end_sessions(claims.sub, now, "logout_all")
        await self._revoked([*ids, claims.sid], now)
        await self.events.record("logout_all", now, user_id=claims.sub, session_id=claims.sid, ip=ip, sessions=len(ids))
        return ids

    async def logout_others(self, claims: AccessClaims, *, ip: str | None = None) -> list[str]:
        now = self.clock.now()
        ids = await self._end_sessions(claims.sub, now, "logout_others", keep=claims.sid)
        await self._revoked(ids, now)
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
        await self._revoked([session_id], now)
        await self.events.record("session_revoked", now, user_id=claims.sub, session_id=session_id, by_session=claims.sid)

    async def change_password(self, claims: AccessClaims, current: object, new: object, *, ip: str | None = None) -> None:
        current_pw = check_password_shape(current)
        new_pw = check_new_password(new, self.settings.password_min_length)
        user = await self.users.user_by_id(claims.sub)
        if user is None:
            raise InvalidCredentials("the current password is wrong")
        # Throttled like a login: a stolen access token must not become a
        # way to guess the password.
        attempt = await self.throttle.reserve_login(user.username, ip, self.clock.now())
        if not await self.passwords.verify(user.password_hash, current_pw):
            if self.throttle.login_failed(attempt):
                await self.events.record("lockout", self.clock.now(), user_id=user.id, ip=ip)
            raise InvalidCredentials("the current password is wrong")
        await self.throttle.login_succeeded(attempt, self.clock.now())
        await self.users.set_password_hash(user.id, await self.passwords.hash(new_pw))
        now = self.clock.now()
        # After the new hash (see login): every session born before — or
        # racing — this one is stale from here on; this one is re-stamped.
        await self.sessions.bump_credential_version(user.id, now=now, keep=claims.sid)
        ids = await self._end_sessions(user.id, now, "password_changed", keep=claims.sid)
        await self._revoked(ids, now)
        await self.events.record("password_changed", now, user_id=user.id, session_id=claims.sid, ip=ip)

    async def disable_user(self, username: str) -> User:
        user = await self.users.user_by_name(normalize_username(username))
        if user is None:
            raise NotFound("no such user")
        await self.users.set_disabled(user.id, True)
        now = self.clock.now()
        await self.sessions.bump_credential_version(user.id, now=now)  # after the flag (see login)
        ids = await self._end_sessions(user.id, now, "user_disabled")
        await self._revoked(ids, now)
        await self.events.record("user_disabled", now, user_id=user.id)
        return user

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

    async def _revoked(self, sids: list[str], now: float) -> None:
        """Tell the revocation feed, after the store committed: resource
        servers then reject the sessions' access tokens before they expire."""
        if sids:
            await self.revocations.notify(sids, now=now)
