"""``Verifier``: check keyturn access tokens in a resource server, offline.

The signature and claim checks are the service's own
(``keyturn.core.tokens.verify_access_token``): same pinned algorithms, same
``typ: at+jwt``, ``iss``, ``aud``, ``exp`` with leeway, same error codes
(``token_expired`` / ``token_invalid`` / ``token_revoked``). Keys come from
the JWKS (RFC 7517), cached; an unknown ``kid`` triggers at most one refetch
per ``min_refetch_interval`` so garbage ``kid`` values cannot make us hammer
the service. Revoked sessions come from the revocation feed, polled in the
background (``keyturn.resource.feed``), so ``verify`` itself does no I/O
except that rate-limited refetch.

A token verified once is remembered (``keyturn.core.verified``) until its
``exp``: seen again it costs a lookup, but the revocation check, the
revoked-key check and the DPoP proof still run every time.

HS256 tokens cannot be verified from a JWKS (the key is a shared secret the
JWKS never publishes): pass ``hmac_keys={kid: secret}`` explicitly, or use
an asymmetric ``KEYTURN_SIGNING_ALG`` (EdDSA, the default, or ES256).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Collection, Mapping
from types import TracebackType
from typing import Any, Literal

import httpx
from keyturn.clock import Clock, SystemClock
from keyturn.core.algorithms import ALGORITHMS
from keyturn.core.tokens import AccessClaims, SigningKey, peek_kid
from keyturn.core.verified import DEFAULT_MAX_ENTRIES, VerifiedTokens
from keyturn.errors import InvalidDpopProof, SigningKeyRevoked, TokenExpired, TokenInvalid, TokenRevoked
from keyturn.resource.dpop import DEFAULT_ALGORITHMS, DpopChecker, Headers, credentials, header_list
from keyturn.resource.feed import (
    FeedHealth,
    HttpRevocationSource,
    RevocationFeedRefused,
    RevocationFeedUnavailable,
    RevocationSource,
    RevokedSessions,
)

__all__ = [
    "AccessClaims", "InvalidDpopProof", "RevocationFeedRefused", "RevocationFeedUnavailable", "SigningKeyRevoked", "TokenExpired",
    "TokenInvalid", "TokenRevoked", "Verifier", "keys_from_jwks",
]

log = logging.getLogger("keyturn.verify")
NO_FEED = (
    "a Verifier without a revocation feed accepts a logged-out or revoked access token until it expires: "
    "give it resource-client credentials (Verifier.for_service(..., client_id=..., client_secret=...), "
    "from `keyturn clients add NAME`), or pass revocations=False to accept that"
)
_ALGS = ALGORITHMS
_CURVES = {"EdDSA": ("OKP", "Ed25519"), "Ed25519": ("OKP", "Ed25519"), "ES256": ("EC", "P-256")}


def keys_from_jwks(jwks: Mapping[str, Any], algorithms: Collection[str]) -> dict[str, SigningKey]:
    """Verification keys from a JWK Set: one algorithm per key, taken from
    the JWK's own ``alg`` (a key without one, or with an algorithm we do not
    pin, is ignored: the token header never chooses the algorithm)."""
    found: dict[str, SigningKey] = {}
    entries = jwks.get("keys")
    for jwk in entries if isinstance(entries, list) else []:
        if not isinstance(jwk, dict):
            continue
        kid, alg = jwk.get("kid"), jwk.get("alg")
        if not isinstance(kid, str) or not kid or alg not in algorithms or alg not in _CURVES:
            continue
        if jwk.get("use", "sig") != "sig" or (jwk.get("kty"), jwk.get("crv")) != _CURVES[alg]:
            continue
        try:
            key = _ALGS[alg].from_jwk(json.dumps(jwk))
        except Exception:  # a malformed entry must not take the others down
            log.warning("ignoring malformed JWK %s", kid)
            continue
        public = key.public_key() if hasattr(key, "private_bytes") else key  # never keep a private half
        found[kid] = SigningKey.create(kid, alg, None, public)
    return found


class Verifier:
    """``Verifier(jwks_url, issuer=..., audience=...).verify(token) -> AccessClaims``.

    Thread-safe. Use ``verify`` from sync code and ``verify_async`` from
    async code (it never blocks the event loop on a key fetch). With a
    ``revocations`` source, call ``start()`` (or use it as a context
    manager) to run the poller; the first ``verify`` starts it otherwise.

    ``revocations`` is required: without the feed a signed-out user's access
    token stays good until it expires, so that choice must be spelled
    ``revocations=False`` (logged once, as a warning, when it is made).
    """

    def __init__(
        self,
        jwks_url: str | None,
        *,
        issuer: str,
        audience: str,
        algorithms: Collection[str] = ("EdDSA", "Ed25519", "ES256"),
        leeway: float = 5.0,
        min_refetch_interval: float = 10.0,
        jwks_max_age: float = 300.0,
        hmac_keys: Mapping[str, bytes] | None = None,
        revocations: RevocationSource | Literal[False] | None = None,
        poll_interval: float = 2.0,
        poll_wait: float = 0.0,
        max_feed_staleness: float | None = 60.0,
        clock: Clock | None = None,
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        dpop_window: float = 60.0,
        dpop_algorithms: Collection[str] = DEFAULT_ALGORITHMS,
        public_url: str | None = None,
        max_verified: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        if "none" in {a.lower() for a in algorithms}:
            raise ValueError("'none' is never an acceptable algorithm")
        if "HS256" in algorithms and not hmac_keys:
            raise ValueError("HS256 needs hmac_keys: a JWKS never carries the shared secret")
        if revocations is None:
            raise ValueError(NO_FEED)
        if revocations is False:
            log.warning("revocations=False: logged-out and revoked access tokens stay accepted until they expire "
                        "(the access-token lifetime, 30 minutes by default)")
        self.jwks_url = jwks_url
        self.issuer = issuer
        self.audience = audience
        self.algorithms = tuple(algorithms)
        self.leeway = leeway
        self.min_refetch_interval = min_refetch_interval
        self.jwks_max_age = jwks_max_age
        self.poll_interval = poll_interval
        self.poll_wait = poll_wait
        self.max_feed_staleness = max_feed_staleness
        self.clock = clock or SystemClock()
        self.revoked = RevokedSessions()
        self._static = {
            kid: SigningKey.create(kid, "HS256", bytes(secret), bytes(secret)) for kid, secret in (hmac_keys or {}).items()
        }
        self._keys: dict[str, SigningKey] = dict(self._static)
        self._revoked_keys: frozenset[str] = frozenset()  # from the feed; never trusted again
        self._last_fetch = float("-inf")
        self._fetch_lock = threading.Lock()
        self._timeout = timeout
        self._transport = transport
        self._async_transport = async_transport
        self._source = None if revocations is False else revocations
        self._health = FeedHealth()
        self._cursor: str | None = None
        self._feed_ok_at: float | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._start_lock = threading.Lock()
        self.dpop = DpopChecker(window=dpop_window, leeway=leeway, algorithms=dpop_algorithms, public_url=public_url)
        # Tokens already verified, up to ``max_verified`` (0: none remembered).
        self.verified = VerifiedTokens(max_verified)

    @classmethod
    def for_service(
        cls, base_url: str, *, issuer: str, audience: str, client_id: str | None = None,
        client_secret: str | None = None, **kw: Any,
    ) -> Verifier:
        """JWKS and (with resource-client credentials) the revocation feed of
        a keyturn service at ``base_url``."""
        base = base_url.rstrip("/")
        source: RevocationSource | Literal[False] | None = kw.pop("revocations", None)
        if client_id and client_secret:
            source = HttpRevocationSource(
                base + "/auth/revocations", client_id=client_id, client_secret=client_secret,
                transport=kw.get("transport"),
            )
        return cls(base + "/.well-known/jwks.json", issuer=issuer, audience=audience, revocations=source, **kw)

    @classmethod
    def discover(
        cls, issuer: str, *, audience: str, client_id: str | None = None, client_secret: str | None = None,
        **kw: Any,
    ) -> Verifier:
        """From the issuer URL alone (RFC 8414; ``keyturn.resource.discovery``):
        metadata checked to name this issuer, then the JWKS (and, with
        resource-client credentials, the revocation feed)."""
        from keyturn.resource.discovery import discover

        jwks_uri, found = discover(issuer, client_id=client_id, client_secret=client_secret,
                                   timeout=kw.get("timeout", 5.0), transport=kw.get("transport"))
        # No credentials: the caller must still say revocations=False (or
        # give a source of its own), as for every Verifier.
        source: RevocationSource | Literal[False] | None = found or kw.pop("revocations", None)
        verifier = cls(jwks_uri, issuer=issuer, audience=audience, revocations=source, **kw)
        verifier.refresh_keys()
        return verifier

    # --- verification ---------------------------------------------------------

    def verify(self, token: str) -> AccessClaims:
        """Claims of a valid, unrevoked bearer token; ``TokenExpired`` /
        ``TokenInvalid`` / ``TokenRevoked`` otherwise (``RevocationFeedUnavailable``
        if the feed has been silent too long). A DPoP-bound token is refused
        (``InvalidDpopProof``): check it with ``verify_request``."""
        return self._bearer(self._not_revoked(self._claims(token)))

    async def verify_async(self, token: str) -> AccessClaims:
        return self._bearer(self._not_revoked(await self._claims_async(token)))

    def verify_request(self, method: str, url: str, headers: Headers) -> AccessClaims:
        """Claims of the request's access token (``Authorization: Bearer`` or
        ``DPoP``), with RFC 9449 §7.1 enforced: a token bound to a key passes
        only as ``DPoP`` with a valid, fresh, unreplayed proof from that key
        for this method and URL. ``url`` is the URL the client called
        (``public_url`` given at construction replaces its origin)."""
        headers = header_list(headers)
        scheme, token = credentials(headers)
        return self._proven(self._claims(token), scheme, token, method, url, headers)

    async def verify_request_async(self, method: str, url: str, headers: Headers) -> AccessClaims:
        headers = header_list(headers)
        scheme, token = credentials(headers)
        return self._proven(await self._claims_async(token), scheme, token, method, url, headers)

    def _claims(self, token: str) -> AccessClaims:
        """Signature and claims: remembered, or checked (fetching the JWKS
        first for an unknown ``kid``)."""
        claims = self.verified.hit(token, self.clock.now(), self._live_key)
        if claims is None:
            if self._needs_keys(token):
                self._fetch_sync()
            claims = self._signed(token)
        return claims

    async def _claims_async(self, token: str) -> AccessClaims:
        claims = self.verified.hit(token, self.clock.now(), self._live_key)
        if claims is None:
            if self._needs_keys(token):
                await self._fetch_async()
            claims = self._signed(token)
        return claims

    def _needs_keys(self, token: str) -> bool:
        """An unknown ``kid``, and the right to fetch the JWKS now. A token of
        a revoked key is refused here, before any fetch could bring it back."""
        kid = peek_kid(token)
        self._refuse_revoked_key(kid)
        return kid is not None and kid not in self._keys and self._may_fetch()

    def _proven(
        self, claims: AccessClaims, scheme: str, token: str, method: str, url: str, headers: Headers
    ) -> AccessClaims:
        self._not_revoked(claims)
        self.dpop.check(claims, scheme, token, method, url, headers, self.clock.now())
        return claims

    @staticmethod
    def _bearer(claims: AccessClaims) -> AccessClaims:
        if claims.cnf_jkt is not None:
            raise InvalidDpopProof("a DPoP-bound access token needs a proof: use verify_request")
        return claims

    def _refuse_revoked_key(self, kid: str | None) -> None:
        """A key revoked on the feed: its tokens are refused (refresh helps)."""
        if kid is not None and kid in self._revoked_keys:
            raise SigningKeyRevoked()

    def _live_key(self, kid: str) -> SigningKey | None:
        """The key under ``kid`` unless the feed revoked it: what a cache hit
        re-checks, so a key revoked since the token was verified ends it."""
        return None if kid in self._revoked_keys else self._keys.get(kid)

    def _signed(self, token: str) -> AccessClaims:
        """Signature and claims, remembered on success."""
        return self.verified.check(
            token, keys=self._keys.get, algorithms=self.algorithms, issuer=self.issuer,
            audience=self.audience, leeway=self.leeway, now=self.clock.now(),
        )

    def _not_revoked(self, claims: AccessClaims) -> AccessClaims:
        """The revocation check: on every verification, remembered or not."""
        if self._source is not None:
            now = self.clock.now()
            self._ensure_started()
            ok_at, limit = self._feed_ok_at, self.max_feed_staleness
            # Fail closed: a feed silent for too long may be hiding revocations.
            if self._health.state == "refused":
                raise RevocationFeedRefused()  # a wrong credential: no grace, it will not heal by waiting
            if limit is not None and (ok_at is None or time.monotonic() - ok_at > limit):
                raise RevocationFeedUnavailable()
            if self.revoked.is_revoked(claims.sid, now) or self.revoked.is_token_revoked(claims.jti, now):
                raise TokenRevoked()
        return claims

    # --- keys -------------------------------------------------------------------

    def load_jwks(self, jwks: Mapping[str, Any]) -> int:
        """Replace the cached keys (what a fetch does); returns how many.
        An unchanged key keeps its object, so the tokens it verified stay
        remembered; tokens of a key that left or changed are forgotten."""
        keys = {**keys_from_jwks(jwks, self.algorithms), **self._static}
        old = self._keys
        live: dict[str, SigningKey] = {}
        for kid, key in keys.items():
            if kid in self._revoked_keys:
                continue
            prior = old.get(kid)
            if prior is not None and prior.alg == key.alg and prior.public == key.public:
                key = prior  # unchanged: the tokens it verified stay remembered
            live[kid] = key
        self._keys = live
        self.verified.forget_keys({kid for kid, key in old.items() if live.get(kid) is not key})
        return len(keys)

    def _may_fetch(self) -> bool:
        """Claim the right to fetch now, at most once per interval."""
        if self.jwks_url is None:
            return False
        with self._fetch_lock:
            mono = time.monotonic()
            if mono - self._last_fetch < self.min_refetch_interval:
                return False
            self._last_fetch = mono
            return True

    def refresh_keys(self) -> int:
        """Fetch the JWKS now (ignores the rate limit)."""
        self._last_fetch = time.monotonic()
        return self._fetch_sync(raise_errors=True)

    async def refresh_keys_async(self) -> int:
        self._last_fetch = time.monotonic()
        return await self._fetch_async(raise_errors=True)

    def _fetch_sync(self, raise_errors: bool = False) -> int:
        assert self.jwks_url is not None
        try:
            with httpx.Client(transport=self._transport, timeout=self._timeout) as client:
                response = client.get(self.jwks_url)
                response.raise_for_status()
                return self.load_jwks(response.json())
        except (httpx.HTTPError, ValueError):
            if raise_errors:
                raise
            log.warning("could not fetch the JWKS from %s", self.jwks_url)
            return 0

    async def _fetch_async(self, raise_errors: bool = False) -> int:
        assert self.jwks_url is not None
        try:
            async with httpx.AsyncClient(transport=self._async_transport, timeout=self._timeout) as client:
                response = await client.get(self.jwks_url)
                response.raise_for_status()
                return self.load_jwks(response.json())
        except (httpx.HTTPError, ValueError):
            if raise_errors:
                raise
            log.warning("could not fetch the JWKS from %s", self.jwks_url)
            return 0

    # --- revocation feed -------------------------------------------------------

    def poll_revocations(self, wait: float = 0.0) -> int:
        """One read of the feed; returns how many entries it brought."""
        assert self._source is not None, "no revocation source configured"
        batch = self._source.poll(self._cursor, wait=wait)
        self.revoked.add(batch.revoked, now=self.clock.now(), tokens=batch.tokens)
        if batch.keys:
            revoked = {kid for kid, _ in batch.keys}
            self._revoked_keys = self._revoked_keys | revoked
            self._keys = {k: v for k, v in self._keys.items() if k not in self._revoked_keys}
            self.verified.forget_keys(revoked)
        self._cursor = batch.cursor
        self._feed_ok_at = time.monotonic()
        self._health.note("ok")
        return len(batch.revoked)

    def start(self) -> Verifier:
        """Fetch keys and the feed once, then keep them fresh in a daemon thread."""
        with self._start_lock:
            if self._thread is not None:
                return self
            if self.jwks_url is not None and self._may_fetch():
                self._fetch_sync()
            if self._source is not None:
                self._poll_once(0.0)
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="keyturn-verifier", daemon=True)
            self._thread.start()
        return self

    def _poll_once(self, wait: float) -> bool:
        """One poll whatever happens (staleness fails closed); a failure is
        logged once per change of state, in one line, not every poll."""
        try:
            self.poll_revocations(wait=wait)
        except RevocationFeedRefused as exc:
            self._health.note("refused", exc.detail)
            return False
        except Exception as exc:  # keep polling: staleness fails closed
            self._health.note("unreachable", f"{type(exc).__name__}: {exc}")
            return False
        return True

    def _ensure_started(self) -> None:
        if self._thread is None and not self._stop.is_set():
            self.start()

    def stop(self) -> None:
        self._stop.set()
        if self._source is not None:
            self._source.close()  # interrupts a long-poll in flight
        thread, self._thread = self._thread, None
        if thread is not None:
            # A long-poll in flight may not notice the closed client until the
            # server answers; the thread is a daemon and exits on its own then.
            thread.join(timeout=0.5)

    def _run(self) -> None:
        keys_at = time.monotonic()
        while not self._stop.is_set():
            if self.jwks_url is not None and time.monotonic() - keys_at >= self.jwks_max_age:
                keys_at = time.monotonic()
                self._last_fetch = keys_at
                self._fetch_sync()
            if self._source is None:
                self._stop.wait(min(self.jwks_max_age, 60.0))
                continue
            if not self._poll_once(self.poll_wait):
                if self._stop.is_set():
                    return
                self._stop.wait(self.poll_interval)
                continue
            if self.poll_wait <= 0:
                self._stop.wait(self.poll_interval)

    def __enter__(self) -> Verifier:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()
