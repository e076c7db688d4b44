"""What an operator does to a user from the command line: enable, set a
password, delete. Every change that should end the user's sessions ends
them the way a password change does: the credential version is bumped
after the user row is written (a login racing it gets a stale version), the
sessions' access tokens are denylisted and the revocation feed is told."""

from __future__ import annotations

from keyturn.clock import Clock
from keyturn.config import Settings
from keyturn.core.users import User, check_new_password, normalize_username
from keyturn.errors import NotFound
from keyturn.service.ending import SessionEnding
from keyturn.service.events import EventRecorder
from keyturn.service.passwords import PasswordHasher
from keyturn.stores.protocols import SessionStore, UserStore


class UserAdmin:
    """Operator changes to a user, by name."""

    def __init__(
        self, settings: Settings, *, users: UserStore, sessions: SessionStore, passwords: PasswordHasher,
        events: EventRecorder, clock: Clock, ending: SessionEnding,
    ) -> None:
        self.settings = settings
        self.users = users
        self.sessions = sessions
        self.passwords = passwords
        self.events = events
        self.clock = clock
        self.ending = ending

    async def _user(self, username: str) -> User:
        user = await self.users.user_by_name(normalize_username(username))
        if user is None:
            raise NotFound("no such user")
        return user

    async def _end_sessions(self, user: User, reason: str) -> list[str]:
        now = self.clock.now()
        await self.sessions.bump_credential_version(user.id, now=now)
        ids = await self.ending.end_user_sessions(user.id, now, reason)
        await self.ending.notify_revoked(ids, now)
        return ids

    async def enable_user(self, username: str) -> User:
        user = await self._user(username)
        await self.users.set_disabled(user.id, False)
        await self.events.record("user_enabled", self.clock.now(), user_id=user.id)
        return user

    async def set_password(self, username: str, password: object) -> tuple[User, int]:
        """A new password set by an operator (a reset): every session of the
        user ends, access tokens included. Returns the user and how many
        sessions ended."""
        secret = check_new_password(password, self.settings.password_min_length)
        user = await self._user(username)
        await self.users.set_password_hash(user.id, await self.passwords.hash(secret))
        ids = await self._end_sessions(user, "password_reset")
        await self.events.record("password_reset", self.clock.now(), user_id=user.id)
        return user, len(ids)

    async def delete_user(self, username: str) -> tuple[User, int]:
        """The user is gone and the name free; sessions end first, and the
        events keep the user's id (a new user of that name gets another)."""
        user = await self._user(username)
        ids = await self._end_sessions(user, "user_deleted")
        # The session store's copy of the claims goes too: an external subject
        # issued again under the same id must not inherit them.
        await self.sessions.set_grants(user.id, None)
        await self.users.delete_user(user.id)
        await self.events.record("user_deleted", self.clock.now(), user_id=user.id, username=user.username)
        return user, len(ids)
