"""What an app decides about its users: their claims and scope
(``keyturn users set``), and sessions for subjects a backend vouches for
(``issue_session``, ``POST /backend/sessions``; docs/adopt.md).

An external subject is a user record whose id is the app's own user id,
verbatim (it becomes ``sub``), and whose username no login can reach
(``keyturn.core.claims.external_username``): it has no password, so a
password login for it fails like any unknown user. A subject equal to the id
of one of keyturn's own users is refused, so a backend can never open a
session as one of them.
"""

from __future__ import annotations

from typing import Any

from keyturn.clock import Clock
from keyturn.core.claims import Grants, check_claims, check_scope, check_subject, external_username, is_external
from keyturn.core.users import User, normalize_username
from keyturn.errors import BadRequest, NotFound, SubjectDisabled, SubjectTaken, UsernameTaken
from keyturn.service.access import TokenPair
from keyturn.service.accounts import Accounts
from keyturn.service.ending import SessionEnding
from keyturn.service.events import EventRecorder
from keyturn.service.guards import DpopGuard, DpopRequest
from keyturn.stores.protocols import SessionStore, UserStore

NO_PASSWORD = "!external"  # never a hash any verifier accepts


class Subjects:
    """Claims and scope per user, and sessions a backend vouches for."""

    def __init__(
        self, *, users: UserStore, sessions: SessionStore, accounts: Accounts, ending: SessionEnding,
        events: EventRecorder, dpop: DpopGuard, clock: Clock,
    ) -> None:
        self.users = users
        self.sessions = sessions
        self.accounts = accounts
        self.ending = ending
        self.events = events
        self.dpop = dpop
        self.clock = clock

    async def find_user(self, name_or_id: str) -> User:
        """A user by username, else by id (an external subject is named by
        its id)."""
        try:
            user = await self.users.user_by_name(normalize_username(name_or_id))
        except BadRequest:  # not a valid username: maybe an id
            user = None
        if user is None and name_or_id:
            user = await self.users.user_by_id(name_or_id)
        if user is None:
            raise NotFound("no such user")
        return user

    async def set_claims(self, user: User, *, claims: object = None, scope: object = ...) -> User:
        """Replace the user's claims (``None``: keep them) and scope
        (``...``: keep it; ``None`` or ``""``: none). Every session of the
        user carries them from its next refresh on: they are stored beside
        the credential version, which each rotate reads. That copy is
        written even when nothing changed, so running the command again
        repairs a copy a failed write left behind."""
        new_claims = user.claims if claims is None else check_claims(claims)
        new_scope = user.scope if scope is ... else check_scope(scope)
        changed = new_claims != user.claims or new_scope != user.scope
        grants = Grants(new_claims, new_scope)
        # The user record first, then the copy the session store reads: a
        # login that read the record before this writes its copy only where
        # none exists, so it never writes the old claims back.
        if changed and not await self.users.set_claims(user.id, new_claims, new_scope):
            raise NotFound("no such user")
        await self.sessions.set_grants(user.id, None if grants.empty else grants.encode())
        if changed:  # names only: claim values may be personal data
            await self.events.record("claims_changed", self.clock.now(), user_id=user.id, scope=new_scope,
                                     claims=sorted(new_claims))
        return User(user.id, user.username, user.password_hash, user.created_at, user.disabled,
                    claims=new_claims, scope=new_scope)

    async def issue_session(
        self, subject: object, *, claims: object = None, scope: object = None, ip: str | None = None,
        user_agent: str | None = None, client_id: str | None = None, dpop: DpopRequest | None = None,
    ) -> TokenPair:
        """A session for ``subject``, the app's own user id, which the app
        has authenticated itself. ``claims`` / ``scope`` (checked like
        ``keyturn users set``) replace the subject's stored ones when given
        and stay as they are when ``None``. ``client_id``: the backend
        client asking (the access token's ``client_id``); ``None`` for the
        app itself, in process (the first-party client id)."""
        sub = check_subject(subject)
        new_claims = None if claims is None else check_claims(claims)
        new_scope: Any = ... if scope is None else check_scope(scope)
        now = self.clock.now()
        jkt = await self.dpop.bind(dpop, now)
        user = await self._external_user(sub, new_claims, None if new_scope is ... else new_scope, now)
        if new_claims is not None or new_scope is not ...:
            user = await self.set_claims(user, claims=new_claims, scope=new_scope)
        # As at login: the credential version first, then the user, so a
        # disable racing this leaves no session behind.
        version = await self.sessions.credential_version(sub)
        current = await self.users.user_by_id(sub)
        if current is None or current.disabled:
            raise SubjectDisabled()
        current = User(current.id, current.username, current.password_hash, current.created_at, current.disabled,
                       claims=user.claims, scope=user.scope)
        return await self.accounts.open_session(
            current, version, jkt, now, ip=ip, user_agent=user_agent, client_id=client_id, event="backend_session",
        )

    async def revoke_subject(self, subject: object, *, client_id: str | None = None) -> list[str]:
        """End every session of ``subject``, their access tokens included
        (as logout-all does: the credential version first, so a session
        opened concurrently dies too). Unknown subjects have none."""
        sub = check_subject(subject)
        user = await self.users.user_by_id(sub)
        if user is None:
            return []
        if not is_external(user.username):
            raise SubjectTaken()
        now = self.clock.now()
        await self.sessions.bump_credential_version(sub, now=now)
        ids = await self.ending.end_user_sessions(sub, now, "backend_revoked")
        await self.ending.notify_revoked(ids, now)
        await self.events.record("backend_revoked", now, user_id=sub, sessions=len(ids),
                                 **({"client_id": client_id} if client_id else {}))
        return ids

    async def _external_user(
        self, sub: str, claims: dict[str, Any] | None, scope: str | None, now: float
    ) -> User:
        user = await self.users.user_by_id(sub)
        if user is None:
            fresh = User(sub, external_username(sub), NO_PASSWORD, now, claims=claims or {}, scope=scope)
            try:
                await self.users.add_user(fresh)
                return fresh
            except UsernameTaken:  # a concurrent first session made it
                user = await self.users.user_by_id(sub)
                if user is None:
                    raise SubjectTaken() from None
        if not is_external(user.username):
            raise SubjectTaken()
        if user.disabled:
            raise SubjectDisabled()
        return user
