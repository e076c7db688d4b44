"""TokenService: keyturn's API for use in process (docs/adopt.md, "In
process") — login, refresh, logout, sessions, revocation — with no HTTP in
sight. Errors are raised as ``KeyturnError`` subclasses; the edge renders
them.

The service is composed, not inherited: each use-case group is an object
built here with exactly what it uses (``Accounts``, ``Subjects``,
``UserAdmin``, ``Refresh``, ``SessionEnding``, ``AccessTokens``,
``OAuthTokens``), sharing one facts cache and one genuineness check
(``RefreshCheck``). The public methods below are the API and delegate to
them; the HTTP routes and the CLI run every use case through these
methods (only wiring touches the parts).
"""

from __future__ import annotations

from typing import Any

from keyturn.clock import Clock
from keyturn.config import Settings
from keyturn.core import refresh as rt
from keyturn.core.policy import BindingPolicy
from keyturn.core.sessions import Session
from keyturn.core.tokens import AccessClaims
from keyturn.core.users import User
from keyturn.service.access import AccessTokens, TokenPair
from keyturn.service.accounts import Accounts
from keyturn.service.ending import SessionEnding
from keyturn.service.events import EventRecorder
from keyturn.service.facts import FactsCache
from keyturn.service.genuine import RefreshCheck
from keyturn.service.feed import RevocationNotifier
from keyturn.service.guards import AccessDenylist, DpopGuard, DpopRequest, Throttle
from keyturn.service.keys import KeySet
from keyturn.service.oauth import OAuthTokens
from keyturn.service.passwords import PasswordHasher
from keyturn.service.clocks import ClockWatch
from keyturn.service.refresh import Refresh
from keyturn.service.subjects import Subjects
from keyturn.service.user_admin import UserAdmin
from keyturn.stores.protocols import SessionStore, UserStore

__all__ = ["TokenPair", "TokenService"]


class TokenService:
    """The public API of the service, one method per use case (the table in
    docs/adopt.md; ``tests/service/test_public_api.py`` keeps the two
    alike). Its attributes are the parts it is built from, readable for
    tests and wiring, not part of the API."""

    def __init__(
        self,
        settings: Settings,
        *,
        users: UserStore,
        sessions: SessionStore,
        keys: KeySet,
        mac: rt.RefreshMac,
        passwords: PasswordHasher,
        events: EventRecorder,
        clock: Clock,
        binding: BindingPolicy,
        throttle: Throttle,
        denylist: AccessDenylist,
        dpop: DpopGuard,
        revocations: RevocationNotifier,
        clocks: ClockWatch | None = None,
    ) -> None:
        self.settings = settings
        self.users = users
        self.sessions = sessions
        self.keys = keys
        self.mac = mac
        self.passwords = passwords
        self.events = events
        self.clock = clock
        self.binding = binding
        self.throttle = throttle
        self.denylist = denylist
        self.dpop = dpop
        self.revocations = revocations
        self.clocks = clocks
        self.facts = FactsCache()
        self.access = AccessTokens(settings, keys=keys, mac=mac, clock=clock, denylist=denylist, dpop=dpop)
        self.ending = SessionEnding(sessions, denylist=denylist, revocations=revocations, events=events, clock=clock)
        self.accounts = Accounts(
            settings, users=users, sessions=sessions, passwords=passwords, events=events, clock=clock,
            throttle=throttle, dpop=dpop, access=self.access, facts=self.facts, ending=self.ending,
        )
        self.subjects = Subjects(
            users=users, sessions=sessions, accounts=self.accounts, ending=self.ending, events=events, dpop=dpop,
            clock=clock,
        )
        self.admin = UserAdmin(
            settings, users=users, sessions=sessions, passwords=passwords, events=events, clock=clock,
            ending=self.ending,
        )
        self.check = RefreshCheck(sessions, mac=mac, facts=self.facts)
        self.rotation = Refresh(
            settings, sessions=sessions, check=self.check, events=events, clock=clock, binding=binding,
            throttle=throttle, dpop=dpop, access=self.access, ending=self.ending,
        )
        self.oauth = OAuthTokens(
            settings=settings, sessions=sessions, check=self.check, access=self.access, ending=self.ending,
            denylist=denylist, revocations=revocations, events=events, clock=clock,
        )

    # --- accounts -------------------------------------------------------------

    async def register(self, username: object, password: object, *, ip: str | None = None) -> User:
        return await self.accounts.register(username, password, ip=ip)

    async def create_user(self, username: object, password: object) -> User:
        return await self.accounts.create_user(username, password)

    async def login(
        self, username: object, password: object, *, ip: str | None, user_agent: str | None,
        dpop: DpopRequest | None = None,
    ) -> TokenPair:
        return await self.accounts.login(username, password, ip=ip, user_agent=user_agent, dpop=dpop)

    async def change_password(self, claims: AccessClaims, current: object, new: object, *, ip: str | None = None) -> None:
        await self.accounts.change_password(claims, current, new, ip=ip)

    async def disable_user(self, username: str) -> User:
        return await self.accounts.disable_user(username)

    # --- claims, and sessions a backend vouches for (docs/adopt.md) -----------

    async def issue_session(
        self, subject: object, *, claims: object = None, scope: object = None, ip: str | None = None,
        user_agent: str | None = None, client_id: str | None = None, dpop: DpopRequest | None = None,
    ) -> TokenPair:
        """A session for a user your app authenticated itself: ``subject``
        is your user id (the tokens' ``sub``); ``claims`` (a JSON object)
        and ``scope`` replace the subject's stored ones when given. Same
        answer as ``login``."""
        return await self.subjects.issue_session(
            subject, claims=claims, scope=scope, ip=ip, user_agent=user_agent, client_id=client_id, dpop=dpop,
        )

    async def revoke_subject(self, subject: object, *, client_id: str | None = None) -> list[str]:
        """End every session of a subject ``issue_session`` opened, access
        tokens included; the ids of the sessions ended."""
        return await self.subjects.revoke_subject(subject, client_id=client_id)

    async def set_user_claims(self, name_or_id: str, *, claims: object = None, scope: object = ...) -> User:
        """``keyturn users set``: replace a user's claims and/or scope; every
        session carries them from its next refresh on."""
        user = await self.subjects.find_user(name_or_id)
        return await self.subjects.set_claims(user, claims=claims, scope=scope)

    async def find_user(self, name_or_id: str) -> User:
        return await self.subjects.find_user(name_or_id)

    async def enable_user(self, username: str) -> User:
        return await self.admin.enable_user(username)

    async def set_password(self, username: str, password: object) -> tuple[User, int]:
        return await self.admin.set_password(username, password)

    async def delete_user(self, username: str) -> tuple[User, int]:
        return await self.admin.delete_user(username)

    # --- refresh --------------------------------------------------------------

    async def refresh(
        self, token: str, *, ip: str | None, user_agent: str | None, dpop: DpopRequest | None = None,
    ) -> TokenPair:
        if self.clocks is not None:
            self.clocks.check()  # our clock too far from the store's: 503, never a verdict
        return await self.rotation.refresh(token, ip=ip, user_agent=user_agent, dpop=dpop)

    # --- access tokens --------------------------------------------------------

    async def verify_access(self, token: str) -> AccessClaims:
        return await self.access.verify_access(token)

    async def check_access(
        self, token: str, *, scheme: str = "bearer", dpop: DpopRequest | None = None
    ) -> AccessClaims:
        return await self.access.check_access(token, scheme=scheme, dpop=dpop)

    # --- ending sessions ------------------------------------------------------

    async def end_session(self, session_id: str, *, reason: str, user_id: str | None = None) -> bool:
        return await self.ending.end_session(session_id, reason=reason, user_id=user_id)

    async def logout(self, claims: AccessClaims, *, ip: str | None = None) -> None:
        await self.ending.logout(claims, ip=ip)

    async def logout_all(self, claims: AccessClaims, *, ip: str | None = None) -> list[str]:
        return await self.ending.logout_all(claims, ip=ip)

    async def logout_others(self, claims: AccessClaims, *, ip: str | None = None) -> list[str]:
        return await self.ending.logout_others(claims, ip=ip)

    async def list_sessions(self, user_id: str) -> list[Session]:
        return await self.ending.list_sessions(user_id)

    async def revoke_own_session(self, claims: AccessClaims, session_id: str) -> None:
        await self.ending.revoke_own_session(claims, session_id)

    async def admin_revoke_session(self, session_id: str) -> bool:
        return await self.ending.admin_revoke_session(session_id)

    # --- OAuth revocation and introspection (RFC 7009, RFC 7662) ---------------

    async def revoke_token(self, token: str, hint: str | None = None, *, ip: str | None = None) -> None:
        """Revoke any token keyturn issued; anything else changes nothing."""
        await self.oauth.revoke(token, hint, ip=ip)

    async def introspect_token(self, token: str, hint: str | None = None) -> dict[str, Any]:
        """What a token is, or ``{"active": false}``."""
        return await self.oauth.introspect(token, hint)
