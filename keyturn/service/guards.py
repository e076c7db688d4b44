"""The service's security guards, between the pure policies in ``core`` and
the shared state in ``stores.security``: login and refresh throttling, the
access-token denylist and DPoP proof checking with a shared replay cache.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

from keyturn.config import Settings
from keyturn.core import dpop, throttle
from keyturn.core.dpop_nonce import DpopNonces
from keyturn.core.denylist import check_keys, session_key, token_key
from keyturn.core.throttle import ACCOUNT_MEMORY, WINDOW, Counter
from keyturn.core.tokens import AccessClaims
from keyturn.errors import InvalidDpopProof, RateLimited, UseDpopNonce
from keyturn.stores.protocols import CounterStore, Denylist, ReplayCache


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """A login attempt's reservation on the throttle's counters."""

    account: str
    address: str
    failures: int  # the account's consecutive failures, this attempt included


@dataclass(frozen=True, slots=True)
class DpopRequest:
    """What the edge hands the service about a request that may carry a
    DPoP proof: the ``DPoP`` header, the method and the full URL."""

    proof: str | None
    method: str
    url: str


class Throttle:
    """Growing delay per account, fixed-window limits per address."""

    def __init__(self, store: CounterStore, settings: Settings) -> None:
        self._store = store
        self._max_failures = settings.login_max_failures
        self._ip_max = settings.login_ip_max_failures
        self._refresh_ip_max = settings.refresh_ip_max_invalid
        self._max_delay = float(settings.login_max_delay)
        # Addresses that sent an invalid refresh token in the current window,
        # on this replica: only they pay a shared-counter read on refresh, so
        # the hot path of a well-behaved client costs no extra round trip.
        self._suspects: dict[str, float] = {}

    async def reserve_login(self, username: str, ip: str | None, now: float) -> LoginAttempt:
        """Reserve this attempt on the account's and the address's counters
        *before* any password is checked, or raise ``RateLimited``. The
        reservation is the failure count (kept on failure, given back on
        success), so however many attempts race, no more than the limits
        are ever evaluated. A locked account answers the right password
        exactly like a wrong one; refused attempts are not counted."""
        acct, addr = throttle.account_key(username), throttle.window_key("login", ip, now)
        account, address = await asyncio.gather(
            self._reserve_account(acct, now),
            self._store.reserve(addr, limit=self._ip_max, now=now, expires_at=throttle.window_start(now) + 2 * WINDOW),
        )
        if account is None or address is None:
            if account is not None:
                await self._store.release(acct, now=now)
            if address is not None:
                await self._store.release(addr, now=now)
            wait = throttle.window_delay(self._ip_max, self._ip_max, now) if address is None else 0.0
            if account is None:
                found = (await self._store.counters([acct], now=now)).get(acct)
                wait = max(wait, throttle.account_delay(
                    found, now, max_failures=self._max_failures, max_delay=self._max_delay,
                ))
            raise RateLimited(wait)
        return LoginAttempt(acct, addr, account.count)

    async def _reserve_account(self, key: str, now: float) -> Counter | None:
        expires = now + ACCOUNT_MEMORY
        taken = await self._store.reserve(key, limit=self._max_failures, now=now, expires_at=expires)
        if taken is not None:
            return taken
        # Past the limit, one more guess is allowed once its delay is over.
        found = (await self._store.counters([key], now=now)).get(key)
        if found is None or throttle.account_delay(
            found, now, max_failures=self._max_failures, max_delay=self._max_delay,
        ) > 0:
            return None
        return await self._store.reserve(key, limit=found.count + 1, now=now, expires_at=expires)

    def login_failed(self, attempt: LoginAttempt) -> bool:
        """The reservation stands as the failure; True when the account just
        reached its limit."""
        return attempt.failures == self._max_failures

    async def login_succeeded(self, attempt: LoginAttempt, now: float) -> None:
        await asyncio.gather(self._store.reset(attempt.account), self._store.release(attempt.address, now=now))

    async def not_a_guess(self, attempt: LoginAttempt, now: float) -> None:
        """The attempt failed before any password was checked (an invalid
        DPoP proof): the account gets its reservation back, the address
        keeps it (invalid proofs count per address)."""
        await self._store.release(attempt.account, now=now)

    async def not_checked(self, attempt: LoginAttempt, now: float) -> None:
        """We failed before the password's verdict (overloaded, a store
        fault): it was no guess, so both counters get their reservation
        back — our own failure must never lock anyone out."""
        await asyncio.gather(
            self._store.release(attempt.account, now=now), self._store.release(attempt.address, now=now),
        )

    async def reserve_registration(self, ip: str | None, now: float) -> str:
        """Failed registrations per address have the login address limit (a
        taken name is an oracle); returns the key to ``release`` on success."""
        key = throttle.window_key("register", ip, now)
        if await self._store.reserve(
            key, limit=self._ip_max, now=now, expires_at=throttle.window_start(now) + 2 * WINDOW,
        ) is None:
            raise RateLimited(throttle.window_delay(self._ip_max, self._ip_max, now))
        return key

    async def release(self, key: str, now: float) -> None:
        await self._store.release(key, now=now)

    async def refresh_wait(self, ip: str | None, now: float) -> float:
        """Seconds this address must wait before its next *unproven* refresh
        token is looked at (0 = go). Only addresses that sent an invalid
        token in the current window on this replica pay the counter read:
        the hot path of a well-behaved client costs no extra round trip.
        The caller refuses with ``RateLimited`` only what is not genuine, so
        a guesser behind a carrier NAT or an office proxy cannot stall its
        neighbours' refreshes."""
        key = throttle.window_key("refresh", ip, now)
        if self._suspects.get(key, 0.0) <= now:
            self._suspects.pop(key, None)
            return 0.0
        found = await self._store.counters([key], now=now)
        return throttle.window_delay(found[key].count if key in found else 0, self._refresh_ip_max, now)

    async def refresh_invalid(self, ip: str | None, now: float) -> None:
        key = throttle.window_key("refresh", ip, now)
        end = throttle.window_start(now) + WINDOW
        await self._store.increment(key, now=now, expires_at=end + WINDOW)
        if len(self._suspects) > 100_000:
            self._suspects.clear()
        self._suspects[key] = end


class AccessDenylist:
    """Access tokens that must fail at once, everywhere keyturn checks them."""

    def __init__(self, store: Denylist, settings: Settings) -> None:
        self._store = store
        self._issuer = settings.issuer
        # Every access token of a session expires within this (exp is set
        # at mint time, plus the verifiers' leeway).
        self._longest = float(settings.access_token_ttl + settings.clock_leeway)
        self._leeway = float(settings.clock_leeway)

    async def deny_sessions(self, session_ids: Iterable[str], now: float) -> None:
        keys = [session_key(sid) for sid in session_ids]
        if keys:
            await self._store.deny(keys, now=now, expires_at=now + self._longest)

    async def deny_token(self, claims: AccessClaims, now: float) -> None:
        expires = claims.exp + self._leeway
        if expires > now:
            await self._store.deny([token_key(claims.iss, claims.jti)], now=now, expires_at=expires)

    async def is_denied(self, claims: AccessClaims, now: float) -> bool:
        """Fails closed: a store fault raises ``StoreUnavailable`` (503)."""
        return await self._store.any_denied(check_keys(claims.iss, claims.jti, claims.sid), now=now)


class DpopGuard:
    """RFC 9449 proof checks plus the ``jti`` replay cache every replica shares."""

    def __init__(self, replay: ReplayCache, settings: Settings, nonce_key: bytes | None = None) -> None:
        self._replay = replay
        self._window = float(settings.dpop_iat_window)
        self._leeway = float(settings.clock_leeway)
        self._algs = tuple(settings.dpop_algs)
        # RFC 9449 §8: with nonces on, a proof must carry one of ours.
        self.nonces = DpopNonces(nonce_key) if settings.dpop_nonce and nonce_key is not None else None

    async def verify(self, request: DpopRequest | None, now: float, *, access_token: str | None = None) -> dpop.DpopProof:
        if request is None or not request.proof:
            raise InvalidDpopProof("a DPoP proof is required")
        proof = dpop.check_proof(
            dpop.parse_jws(request.proof), method=request.method, url=request.url, now=now,
            window=self._window, leeway=self._leeway, algorithms=self._algs, access_token=access_token,
        )
        if self.nonces is not None and not self.nonces.is_valid(proof.nonce, now):
            # Before the replay cache: the client retries with a new proof.
            raise UseDpopNonce(self.nonces.current(now), at_resource=access_token is not None)
        expires = max(float(proof.iat), now) + self._window + self._leeway
        if not await self._replay.first_use(dpop.replay_key(proof.jkt, proof.jti), now=now, expires_at=expires):
            raise InvalidDpopProof("the DPoP proof was used before")
        return proof

    async def bind(self, request: DpopRequest | None, now: float) -> str | None:
        """At login: the key thumbprint to bind to, if a proof was sent."""
        if request is None or not request.proof:
            return None
        return (await self.verify(request, now)).jkt
