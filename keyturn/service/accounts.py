"""Accounts: registration, operator-created users, login, password change
and disabling a user. Ending the sessions these leave stale goes through
the ``SessionEnding`` handed in."""

from __future__ import annotations

import contextlib
import secrets

from keyturn.clock import Clock
from keyturn.config import Settings
from keyturn.core import refresh as rt
from keyturn.core.claims import Grants
from keyturn.core.sessions import Session, slide_idle_expiry
from keyturn.core.tokens import AccessClaims
from keyturn.core.users import User, check_new_password, check_password_shape, normalize_username
from keyturn.errors import (
    BadRequest,
    InvalidCredentials,
    InvalidDpopProof,
    KeyturnError,
    NotFound,
    Overloaded,
    RegistrationClosed,
    UseDpopNonce,
    UsernameTaken,
)
from keyturn.service.access import AccessTokens, TokenPair
from keyturn.service.ending import SessionEnding
from keyturn.service.events import EventRecorder
from keyturn.service.facts import FactsCache
from keyturn.service.guards import DpopGuard, DpopRequest, Throttle
from keyturn.service.passwords import PasswordHasher
from keyturn.stores.protocols import SessionStore, UserStore


class Accounts:
    """Who may hold sessions: users made, logged in, re-keyed, disabled."""

    def __init__(
        self, settings: Settings, *, users: UserStore, sessions: SessionStore, passwords: PasswordHasher,
        events: EventRecorder, clock: Clock, throttle: Throttle, dpop: DpopGuard,
        access: AccessTokens, facts: FactsCache, ending: SessionEnding,
    ) -> None:
        self.settings = settings
        self.users = users
        self.sessions = sessions
        self.passwords = passwords
        self.events = events
        self.clock = clock
        self.throttle = throttle
        self.dpop = dpop
        self.access = access
        self.facts = facts
        self.ending = ending
        self._idle_ttl = settings.refresh_token_ttl

    async def register(self, username: object, password: object, *, ip: str | None = None) -> User:
        if self.settings.registration != "open":
            raise RegistrationClosed()
        # Like a login: the attempt is reserved first and counts as a failure
        # unless it succeeds (a taken name is an oracle worth throttling).
        key = await self.throttle.reserve_registration(ip, self.clock.now())
        try:
            user = await self.create_user(username, password)
        except Overloaded:
            await self.throttle.release(key, self.clock.now())
            raise
        await self.throttle.release(key, self.clock.now())
        return user

    async def create_user(self, username: object, password: object) -> User:
        name = normalize_username(username)
        secret = check_new_password(password, self.settings.password_min_length)
        # A taken name is refused before any hashing: a failed registration
        # never holds a hashing slot.
        if await self.users.user_by_name(name) is not None:
            raise UsernameTaken()
        user = User(
            id=rt.b64encode(secrets.token_bytes(12)),
            username=name,
            password_hash=await self.passwords.hash(secret),
            created_at=self.clock.now(),
        )
        await self.users.add_user(user)
        return user

    async def login(
        self, username: object, password: object, *, ip: str | None, user_agent: str | None,
        dpop: DpopRequest | None = None,
    ) -> TokenPair:
        name = normalize_username(username)
        secret = check_password_shape(password)  # 400 before any hashing
        self.passwords.has_room()  # a full queue refuses before any store is touched
        # Throttled before the password is looked at: while locked, the right
        # password gets the same 429 as a wrong one.
        attempt = await self.throttle.reserve_login(name, ip, self.clock.now())
        try:
            jkt, user, version, ok = await self._check_password(name, secret, dpop)
        except UseDpopNonce:
            # A protocol step (RFC 9449 §8), not a guess: both reservations back.
            await self.throttle.not_checked(attempt, self.clock.now())
            raise
        except InvalidDpopProof:
            await self.throttle.not_a_guess(attempt, self.clock.now())
            raise
        except Exception:
            with contextlib.suppress(KeyturnError):  # the store may still be down
                await self.throttle.not_checked(attempt, self.clock.now())
            raise
        now = self.clock.now()
        if user is None or not ok or user.disabled:
            # One answer for unknown user, wrong password and disabled user.
            locked = self.throttle.login_failed(attempt)
            await self.events.record("login_failed", now, user_id=user.id if user else None, ip=ip, user_agent=user_agent)
            if locked:
                await self.events.record("lockout", now, user_id=user.id if user else None, ip=ip, user_agent=user_agent)
            raise InvalidCredentials()
        await self.throttle.login_succeeded(attempt, now)
        await self._upgrade_hash(user.id, user.password_hash, secret)
        return await self.open_session(user, version, jkt, now, ip=ip, user_agent=user_agent)

    async def open_session(
        self, user: User, version: int, jkt: str | None, now: float, *, ip: str | None, user_agent: str | None,
        client_id: str | None = None, event: str = "login",
    ) -> TokenPair:
        """A new session for ``user`` (checked by the caller), born under
        credential ``version``, carrying the user's claims and scope; every
        session policy applies (max sessions, binding, DPoP ``jkt``)."""
        grants = Grants(user.claims, user.scope)
        absolute = now + self.settings.session_max_age
        session = Session(
            id=rt.new_session_id(),
            user_id=user.id,
            salt=rt.new_salt(),
            created_at=now,
            absolute_expires_at=absolute,
            idle_expires_at=slide_idle_expiry(now, self._idle_ttl, absolute),
            rotated_at=now,
            last_used_at=now,
            login_ip=ip,
            user_agent=user_agent,
            last_ip=ip,
            last_user_agent=user_agent,
            dpop_jkt=jkt,
            credential_version=version,
            client_id=client_id,
            grants=None if grants.empty else grants.encode(),
        )
        evicted = await self.sessions.create_session(
            session, max_sessions=self.settings.max_sessions_per_user, now=now
        )
        # Evicted sessions' access tokens die too (a store fault fails the login).
        await self.ending.evicted(evicted, now)
        for sid in evicted:
            await self.events.record("session_evicted", now, user_id=user.id, session_id=sid, by_session=session.id)
        await self.events.record(
            event, now, user_id=user.id, session_id=session.id, ip=ip, user_agent=user_agent,
            **({"client_id": client_id} if client_id else {}),
        )
        self.facts.remember(session)
        return self.access.pair(session, now)

    async def change_password(self, claims: AccessClaims, current: object, new: object, *, ip: str | None = None) -> None:
        current_pw = check_password_shape(current)
        new_pw = check_new_password(new, self.settings.password_min_length)
        user = await self.users.user_by_id(claims.sub)
        if user is None:
            raise InvalidCredentials("the current password is wrong")
        # Throttled like a login: a stolen access token must not become a
        # way to guess the password.
        attempt = await self.throttle.reserve_login(user.username, ip, self.clock.now())
        try:
            ok = await self.passwords.verify(user.password_hash, current_pw)
        except Exception:
            with contextlib.suppress(KeyturnError):  # overloaded: no guess was checked
                await self.throttle.not_checked(attempt, self.clock.now())
            raise
        if not ok:
            if self.throttle.login_failed(attempt):
                await self.events.record("lockout", self.clock.now(), user_id=user.id, ip=ip)
            raise InvalidCredentials("the current password is wrong")
        await self.throttle.login_succeeded(attempt, self.clock.now())
        await self.users.set_password_hash(user.id, await self.passwords.hash(new_pw))
        now = self.clock.now()
        # After the new hash (see login): every session born before — or
        # racing — this one is stale from here on; this one is re-stamped.
        await self.sessions.bump_credential_version(user.id, now=now, keep=claims.sid)
        ids = await self.ending.end_user_sessions(user.id, now, "password_changed", keep=claims.sid)
        await self.ending.notify_revoked(ids, now)
        await self.events.record("password_changed", now, user_id=user.id, session_id=claims.sid, ip=ip)

    async def disable_user(self, username: str) -> User:
        user: User | None = None
        with contextlib.suppress(BadRequest):
            user = await self.users.user_by_name(normalize_username(username))
        if user is None:  # an external subject is named by its id (docs/adopt.md)
            user = await self.users.user_by_id(username)
        if user is None:
            raise NotFound("no such user")
        await self.users.set_disabled(user.id, True)
        now = self.clock.now()
        await self.sessions.bump_credential_version(user.id, now=now)  # after the flag (see login)
        ids = await self.ending.end_user_sessions(user.id, now, "user_disabled")
        await self.ending.notify_revoked(ids, now)
        await self.events.record("user_disabled", now, user_id=user.id)
        return user

    async def _check_password(
        self, name: str, secret: str, dpop: DpopRequest | None
    ) -> tuple[str | None, User | None, int, bool]:
        """The proof's key, the user, the credential version and the verdict."""
        jkt = await self.dpop.bind(dpop, self.clock.now())
        user = await self.users.user_by_name(name)
        version = 0
        if user is not None:
            # The credential version is read before the user whose password
            # is checked: a password change (or disable) writes the user and
            # then bumps the version, so a login racing it either sees the new
            # password (and fails) or records a version that is already stale.
            version = await self.sessions.credential_version(user.id)
            user = await self.users.user_by_id(user.id)
        ok = await self.passwords.verify(user.password_hash if user else None, secret)
        return jkt, user, version, ok

    async def _upgrade_hash(self, user_id: str, password_hash: str, password: str) -> None:
        """A hash made with weaker argon2 parameters than today's, or an
        imported one, is replaced while the password is at hand (the only
        moment it is). The write is conditional on the stored hash still
        being the one just verified: a password change landing meanwhile
        wins, and the old password is never written back. Best effort: a
        full hashing queue, or a lost race, leaves it as it is."""
        if not self.passwords.needs_rehash(password_hash):
            return
        try:
            new = await self.passwords.hash(password)
        except Overloaded:
            return
        await self.users.upgrade_password_hash(user_id, verified=password_hash, new=new)
