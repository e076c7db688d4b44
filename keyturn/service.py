"""TokenService: login, refresh, logout, sessions — the use cases, with no
HTTP in sight. Errors are raised as ``KeyturnError`` subclasses; the edge
renders them.
"""

from __future__ import annotations

import logging
import secrets
from collections import OrderedDict
from dataclasses import dataclass, replace

from keyturn.clock import Clock
from keyturn.config import Settings
from keyturn.core import refresh as rt
from keyturn.core.policy import BindingMode, BindingPolicy, network_key
from keyturn.core.sessions import Outcome, Session, classify, slide_idle_expiry
from keyturn.core.tokens import AccessClaims, peek_kid, verify_access_token
from keyturn.core.users import User, check_new_password, check_password_shape, normalize_username
from keyturn.errors import (
    BindingMismatch,
    InvalidCredentials,
    InvalidDpopProof,
    RefreshTokenExpired,
    RefreshTokenInvalid,
    RefreshTokenReused,
    RegistrationClosed,
    SessionRevoked,
    TokenInvalid,
    TokenRevoked,
)
from keyturn.events import EventRecorder
from keyturn.guards import AccessDenylist, DpopGuard, DpopRequest, Throttle
from keyturn.keys import KeySet
from keyturn.passwords import PasswordHasher
from keyturn.revocation import RevocationNotifier
from keyturn.session_management import SessionManagement
from keyturn.stores.base import SessionStore, UserStore

log = logging.getLogger("keyturn.service")


@dataclass(frozen=True, slots=True)
class TokenPair:
    """What a login or refresh hands out; times are epoch seconds."""

    access_token: str
    refresh_token: str
    session_id: str
    issued_at: float
    access_expires_at: float
    refresh_expires_at: float
    session_expires_at: float
    token_type: str = "Bearer"
    grace: bool = False  # an idempotent retry inside the grace window (metrics)


@dataclass(frozen=True, slots=True)
class _Facts:
    """The immutable part of a session, cached per process so the hot path
    can go straight to the compare-and-set (one round trip)."""

    user_id: str
    salt: bytes
    absolute_expires_at: float
    login_ip: str | None
    user_agent: str | None
    dpop_jkt: str | None = None

    @classmethod
    def of(cls, s: Session) -> _Facts:
        return cls(s.user_id, s.salt, s.absolute_expires_at, s.login_ip, s.user_agent, s.dpop_jkt)


class TokenService(SessionManagement):
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
        binding: BindingPolicy | None = None,
        throttle: Throttle | None = None,
        denylist: AccessDenylist | None = None,
        dpop: DpopGuard | None = None,
        revocations: RevocationNotifier | None = None,
    ) -> None:
        self.settings = settings
        self.users = users
        self.sessions = sessions
        self.keys = keys
        self.mac = mac
        self.passwords = passwords
        self.events = events
        self.clock = clock
        self.binding = binding or BindingPolicy()
        if throttle is None or denylist is None or dpop is None:
            from keyturn.stores.security_memory import MemorySecurityStore

            local = MemorySecurityStore()  # single-process use only
            throttle = throttle or Throttle(local, settings)
            denylist = denylist or AccessDenylist(local, settings)
            dpop = dpop or DpopGuard(local, settings)
        self.throttle = throttle
        self.denylist = denylist
        self.dpop = dpop
        self.revocations = revocations
        self._access_ttl = settings.access_token_ttl
        self._idle_ttl = settings.refresh_token_ttl
        self._facts: OrderedDict[str, _Facts] = OrderedDict()
        self._facts_max = 50_000

    # --- accounts ---------------------------------------------------------

    async def register(self, username: object, password: object) -> User:
        if self.settings.registration != "open":
            raise RegistrationClosed()
        return await self.create_user(username, password)

    async def create_user(self, username: object, password: object) -> User:
        name = normalize_username(username)
        secret = check_new_password(password, self.settings.password_min_length)
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
        # Throttled before the password is looked at: while locked, the right
        # password gets the same 429 as a wrong one.
        streak = await self.throttle.check_login(name, ip, self.clock.now())
        jkt = await self.dpop.bind(dpop, self.clock.now())
        user = await self.users.user_by_name(name)
        ok = await self.passwords.verify(user.password_hash if user else None, secret)
        now = self.clock.now()
        if user is None or not ok or user.disabled:
            # One answer for unknown user, wrong password and disabled user.
            locked = await self.throttle.login_failed(name, ip, now)
            await self.events.record("login_failed", now, user_id=user.id if user else None, ip=ip, user_agent=user_agent)
            if locked:
                await self.events.record("lockout", now, user_id=user.id if user else None, ip=ip, user_agent=user_agent)
            raise InvalidCredentials()
        if streak:
            await self.throttle.login_succeeded(name)
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
        )
        evicted = await self.sessions.create_session(
            session, max_sessions=self.settings.max_sessions_per_user, now=now
        )
        # Evicted sessions' access tokens die too (a store fault fails the login).
        await self.denylist.deny_sessions(evicted, now)
        await self._revoked(evicted, now)
        for sid in evicted:
            await self.events.record("session_evicted", now, user_id=user.id, session_id=sid, by_session=session.id)
        await self.events.record("login", now, user_id=user.id, session_id=session.id, ip=ip, user_agent=user_agent)
        self._remember(session)
        return self._pair(session, now)

    # --- refresh (DESIGN.md "Refresh semantics") ------------------------------

    async def refresh(
        self, token: str, *, ip: str | None, user_agent: str | None, dpop: DpopRequest | None = None,
    ) -> TokenPair:
        now = self.clock.now()
        # Addresses sending guessed tokens are slowed down (429) before any
        # lookup; a guess never touches the victim's session.
        await self.throttle.check_refresh(ip, now)
        try:
            return await self._refresh(token, now, ip, user_agent, dpop)
        except RefreshTokenInvalid:
            await self.throttle.refresh_invalid(ip, now)
            raise

    async def _refresh(
        self, token: str, now: float, ip: str | None, user_agent: str | None, dpop: DpopRequest | None,
    ) -> TokenPair:
        parsed = rt.parse(token)
        if parsed is None:
            raise RefreshTokenInvalid()
        sid = parsed.session_id
        session: Session | None = None
        facts = self._facts.get(sid)
        if facts is None:
            session = await self.sessions.get_session(sid)
            if session is None:
                raise RefreshTokenInvalid()
            facts = self._remember(session)
        if not self.mac.is_genuine(parsed, facts.salt):
            # A guess (or a flipped character): it changes nothing.
            raise RefreshTokenInvalid()
        if facts.dpop_jkt is not None:
            # RFC 9449 §5: a DPoP-bound refresh token needs a fresh proof from
            # the same key; refused before the rotation, so nothing is consumed.
            proof = await self.dpop.verify(dpop, now)
            if proof.jkt != facts.dpop_jkt:
                raise InvalidDpopProof("the DPoP proof is from another key")
        same = self.binding.same_client(facts.login_ip, facts.user_agent, ip, user_agent)
        enforce = self.binding.mode is BindingMode.ENFORCE
        if session is None and (same or not enforce) and now < facts.absolute_expires_at:
            # Fast path: assume the token is the current one and let the store's
            # compare-and-set decide; on failure, read and classify.
            pair = await self._try_rotate(sid, parsed.generation, facts, now, ip, user_agent, same)
            if pair is not None:
                return pair
        for _ in range(8):
            if session is None:
                session = await self.sessions.get_session(sid, user_id=facts.user_id)
                if session is None:
                    raise RefreshTokenInvalid()
            grace_ok = same or self._same_network(session.last_ip, ip)
            outcome = classify(
                session, parsed.generation, now,
                reuse_interval=self.settings.reuse_interval,
                same_binding=grace_ok if parsed.generation < session.generation else same,
                enforce_binding=enforce,
            )
            if outcome is Outcome.ROTATE:
                pair = await self._try_rotate(sid, parsed.generation, facts, now, ip, user_agent, same)
                if pair is not None:
                    return pair
                session = None  # lost the race: re-read and decide again
                continue
            return await self._refuse(outcome, session, parsed.generation, now, ip, user_agent)
        raise RefreshTokenInvalid()  # pragma: no cover - generation only grows

    def _same_network(self, a: str | None, b: str | None) -> bool:
        if self.binding.mode is BindingMode.OFF:
            return True
        key = network_key(a, self.binding.v4_prefix, self.binding.v6_prefix)
        return key is not None and key == network_key(b, self.binding.v4_prefix, self.binding.v6_prefix)

    async def _try_rotate(
        self, sid: str, generation: int, facts: _Facts, now: float,
        ip: str | None, user_agent: str | None, same: bool,
    ) -> TokenPair | None:
        idle = slide_idle_expiry(now, self._idle_ttl, facts.absolute_expires_at)
        won = await self.sessions.rotate(
            sid, generation, now=now, idle_expires_at=idle, ip=ip, user_agent=user_agent, user_id=facts.user_id
        )
        if not won:
            return None
        if not same:
            await self.events.record(
                "binding_mismatch", now, user_id=facts.user_id, session_id=sid, ip=ip,
                user_agent=user_agent, login_ip=facts.login_ip, action="alert",
            )
        return self._mint(
            sid, facts.user_id, facts.salt, generation + 1, now, idle, facts.absolute_expires_at, facts.dpop_jkt
        )

    async def _refuse(
        self, outcome: Outcome, session: Session, generation: int, now: float,
        ip: str | None, user_agent: str | None,
    ) -> TokenPair:
        if outcome is Outcome.GRACE:
            # Idempotent retry: the same successor, recomputed; a fresh access token.
            return replace(self._pair(session, now), grace=True)
        if outcome is Outcome.REUSED:
            # Commit the revocation on its own, before failing the request: a
            # rollback with the failed request would undo the protection.
            # Denylist first: whatever fails after, the access tokens are dead.
            await self.denylist.deny_sessions([session.id], now)
            first = await self.sessions.revoke_session(session.id, now=now, reason="reuse", user_id=session.user_id)
            if first:  # one event per theft, not one per racing request
                await self._revoked([session.id], now)
                await self.events.record(
                    "refresh_token_reused", now, user_id=session.user_id, session_id=session.id,
                    ip=ip, user_agent=user_agent, presented_generation=generation,
                    current_generation=session.generation,
                    holder={"ip": session.last_ip, "user_agent": session.last_user_agent,
                            "last_used_at": session.last_used_at},
                    presenter={"ip": ip, "user_agent": user_agent, "at": now},
                )
            raise RefreshTokenReused()
        if outcome is Outcome.BINDING_MISMATCH:
            await self.events.record(
                "binding_mismatch", now, user_id=session.user_id, session_id=session.id, ip=ip,
                user_agent=user_agent, login_ip=session.login_ip, action="refused",
            )
            raise BindingMismatch()
        if outcome is Outcome.EXPIRED:
            raise RefreshTokenExpired()
        if outcome is Outcome.REVOKED:
            raise SessionRevoked()
        raise RefreshTokenInvalid()

    # --- access tokens ------------------------------------------------------

    def _mint(
        self, sid: str, user_id: str, salt: bytes, generation: int, now: float,
        idle_expires_at: float, absolute_expires_at: float, dpop_jkt: str | None = None,
    ) -> TokenPair:
        iat = int(now)
        # Never past the session's absolute end: the bearer check no longer
        # reads the session, so the token's own exp must carry that limit.
        exp = max(iat + 1, min(iat + self._access_ttl, int(absolute_expires_at)))
        claims = AccessClaims(
            iss=self.settings.issuer, aud=self.settings.audience, sub=user_id, sid=sid,
            jti=rt.b64encode(secrets.token_bytes(12)), iat=iat, exp=exp, cnf_jkt=dpop_jkt,
        )
        return TokenPair(
            access_token=self.keys.active.sign(claims),
            refresh_token=self.mac.mint(sid, generation, salt),
            session_id=sid,
            issued_at=now,
            access_expires_at=float(claims.exp),
            refresh_expires_at=idle_expires_at,
            session_expires_at=absolute_expires_at,
            token_type="DPoP" if dpop_jkt else "Bearer",
        )

    def _pair(self, session: Session, now: float) -> TokenPair:
        return self._mint(
            session.id, session.user_id, session.salt, session.generation, now,
            session.idle_expires_at, session.absolute_expires_at, session.dpop_jkt,
        )

    def _remember(self, session: Session) -> _Facts:
        facts = _Facts.of(session)
        self._facts[session.id] = facts
        if len(self._facts) > self._facts_max:
            self._facts.popitem(last=False)
        return facts

    async def verify_access(self, token: str) -> AccessClaims:
        """Signature and claims only (what an offline verifier can know)."""
        now = self.clock.now()
        kid = peek_kid(token)
        if kid is not None and self.keys.get(kid) is None:
            # Maybe another replica just created a key: reload, rate-limited.
            await self.keys.reload_if_stale(now)
        return verify_access_token(
            token, keys=self.keys.get, algorithms=self.keys.algorithms,
            issuer=self.settings.issuer, audience=self.settings.audience,
            leeway=self.settings.clock_leeway, now=now,
        )

    async def authenticate(
        self, token: str, *, scheme: str = "bearer", dpop: DpopRequest | None = None
    ) -> tuple[AccessClaims, Session]:
        """``check_access`` plus the session itself, for callers that need
        it (the HTTP routes do not: they use ``check_access`` alone)."""
        claims = await self.check_access(token, scheme=scheme, dpop=dpop)
        session = await self.sessions.get_session(claims.sid, user_id=claims.sub)
        if session is None or session.user_id != claims.sub:
            raise TokenInvalid()
        if session.revoked_at is not None or session.absolute_expires_at <= self.clock.now():
            raise TokenRevoked()
        return claims, session

    async def check_access(
        self, token: str, *, scheme: str = "bearer", dpop: DpopRequest | None = None
    ) -> AccessClaims:
        """An access token as the service itself checks it: signature and
        claims, then the denylist (by session id and by (iss, jti): one O(1)
        lookup that replaces reading the session — every path that ends a
        session denylists it *before* revoking it, and exp never outlives
        the session), then the DPoP proof for a key-bound token."""
        claims = await self.verify_access(token)
        now = self.clock.now()
        if await self.denylist.is_denied(claims, now):  # a store fault is a 503, never a pass
            raise TokenRevoked()
        if claims.cnf_jkt is not None:
            if scheme.lower() != "dpop":
                # RFC 9449 §7.1: a bound token is not a bearer token.
                raise InvalidDpopProof("this access token is DPoP-bound: use the DPoP scheme with a proof")
            proof = await self.dpop.verify(dpop, now, access_token=token)
            if proof.jkt != claims.cnf_jkt:
                raise InvalidDpopProof("the DPoP proof is from another key")
        elif scheme.lower() != "bearer":
            raise TokenInvalid("this access token is not DPoP-bound: use the Bearer scheme")
        return claims
