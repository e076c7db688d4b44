"""``Verifier``: check keyturn access tokens in a resource server, offline.

The signature and claim checks are the service's own
(``keyturn.core.tokens.verify_access_token``): same pinned algorithms, same
``typ: at+jwt``, ``iss``, ``aud``, ``exp`` with leeway, same error codes.
The keys come from ``jwks.JwksCache`` (the only I/O a verification may do:
a rate-limited refetch for an unknown ``kid``); revocations from the feed,
read in the background by ``feed_poller.FeedPoller``. A token verified once
is remembered (``keyturn.core.verified``) until its ``exp``, but the
revocation check, the revoked-key check and the DPoP proof run every time.

HS256 tokens cannot be verified from a JWKS (it never publishes a shared
secret): pass ``hmac_keys={kid: secret}``, or use EdDSA (the default) or ES256.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from types import TracebackType
from typing import Any, Generic, Literal, TypeVar, cast, overload

import httpx
from keyturn.clock import Clock, SystemClock
from keyturn.core.tokens import AccessClaims, peek_kid
from keyturn.core.verified import DEFAULT_MAX_ENTRIES, VerifiedTokens
from keyturn.errors import InvalidDpopProof, SigningKeyRevoked, TokenExpired, TokenInvalid, TokenRevoked
from keyturn.resource.dpop import DEFAULT_ALGORITHMS, DpopChecker, Headers, credentials, header_list
from keyturn.resource.feed import HttpRevocationSource, RevocationFeedRefused, RevocationFeedUnavailable, RevocationSource
from keyturn.resource.feed_poller import FeedPoller
from keyturn.resource.jwks import JwksCache, keys_from_jwks

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
T = TypeVar("T")


class _Via(Generic[T]):
    """A Verifier attribute that lives on one of its helpers (read and set
    there), so code that used it on the Verifier keeps working."""

    def __init__(self, helper: str, name: str) -> None:
        self.helper, self.name = helper, name

    @overload
    def __get__(self, verifier: None, owner: object = None) -> _Via[T]: ...
    @overload
    def __get__(self, verifier: Verifier, owner: object = None) -> T: ...
    def __get__(self, verifier: Verifier | None, owner: object = None) -> T | _Via[T]:
        if verifier is None:
            return self  # on the class (help(), autospec): the descriptor itself
        return cast(T, getattr(getattr(verifier, self.helper), self.name))

    def __set__(self, verifier: Verifier, value: T) -> None:
        setattr(getattr(verifier, self.helper), self.name, value)


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
        revocations: RevocationSource | Literal[False] | None = None,
        clock: Clock | None = None,
        # the key cache (JwksCache)
        min_refetch_interval: float = 10.0, jwks_max_age: float = 300.0, hmac_keys: Mapping[str, bytes] | None = None,
        timeout: float = 5.0, transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        # the revocation feed (FeedPoller)
        poll_interval: float = 2.0, poll_wait: float = 0.0, max_feed_staleness: float | None = 60.0,
        # DPoP proofs (DpopChecker) and the verified tokens (VerifiedTokens)
        dpop_window: float = 60.0, dpop_algorithms: Collection[str] = DEFAULT_ALGORITHMS,
        public_url: str | None = None, max_verified: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        # Tokens already verified, up to ``max_verified`` (0: none remembered).
        self.verified = VerifiedTokens(max_verified)
        self.jwks = JwksCache(  # refuses 'none', and HS256 without hmac_keys
            jwks_url, algorithms=algorithms, hmac_keys=hmac_keys, min_refetch_interval=min_refetch_interval,
            max_age=jwks_max_age, timeout=timeout, transport=transport, async_transport=async_transport,
            forget=self.verified.forget_keys,
        )
        if revocations is None:
            raise ValueError(NO_FEED)
        if revocations is False:
            log.warning("revocations=False: logged-out and revoked access tokens stay accepted until they expire "
                        "(the access-token lifetime, 30 minutes by default)")
        self.issuer = issuer
        self.audience = audience
        self.algorithms = tuple(algorithms)
        self.leeway = leeway
        self.clock = clock or SystemClock()
        self.poller = FeedPoller(
            None if revocations is False else revocations, keys=self.jwks, clock=self.clock,
            interval=poll_interval, wait=poll_wait, max_staleness=max_feed_staleness,
        )
        self.revoked = self.poller.revoked
        self.dpop = DpopChecker(window=dpop_window, leeway=leeway, algorithms=dpop_algorithms, public_url=public_url)

    # Settings and state that live on the helpers, still read and set here.
    jwks_url = _Via[str | None]("jwks", "url")
    min_refetch_interval = _Via[float]("jwks", "min_refetch_interval")
    jwks_max_age = _Via[float]("jwks", "max_age")
    _revoked_keys = _Via[frozenset[str]]("jwks", "revoked")
    poll_interval = _Via[float]("poller", "interval")
    poll_wait = _Via[float]("poller", "wait")
    max_feed_staleness = _Via["float | None"]("poller", "max_staleness")
    _source = _Via["RevocationSource | None"]("poller", "source")
    _cursor = _Via["str | None"]("poller", "cursor")
    _feed_ok_at = _Via["float | None"]("poller", "ok_at")
    _thread = _Via[object]("poller", "thread")

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
        given: RevocationSource | Literal[False] | None = kw.pop("revocations", None)
        source = found if found is not None else given
        verifier = cls(jwks_uri, issuer=issuer, audience=audience, revocations=source, **kw)
        verifier.refresh_keys()
        return verifier

    # --- verification ---------------------------------------------------------

    def verify(self, token: str) -> AccessClaims:
        """Claims of a valid, unrevoked bearer token; ``TokenExpired`` /
        ``TokenInvalid`` / ``TokenRevoked`` otherwise (``RevocationFeedUnavailable``
        if the feed has been silent too long). A DPoP-bound token is refused
        (``InvalidDpopProof``): check it with ``verify_request``."""
        return self._bearer(self.poller.check(self._claims(token)))

    async def verify_async(self, token: str) -> AccessClaims:
        return self._bearer(self.poller.check(await self._claims_async(token)))

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
        claims = self.verified.hit(token, self.clock.now(), self.jwks.live)
        if claims is None:
            if self.jwks.needs_fetch(peek_kid(token)):
                self.jwks.fetch()
            claims = self._signed(token)
        return claims

    async def _claims_async(self, token: str) -> AccessClaims:
        claims = self.verified.hit(token, self.clock.now(), self.jwks.live)
        if claims is None:
            if self.jwks.needs_fetch(peek_kid(token)):
                await self.jwks.fetch_async()
            claims = self._signed(token)
        return claims

    def _proven(
        self, claims: AccessClaims, scheme: str, token: str, method: str, url: str, headers: Headers
    ) -> AccessClaims:
        self.poller.check(claims)
        self.dpop.check(claims, scheme, token, method, url, headers, self.clock.now())
        return claims

    @staticmethod
    def _bearer(claims: AccessClaims) -> AccessClaims:
        if claims.cnf_jkt is not None:
            raise InvalidDpopProof("a DPoP-bound access token needs a proof: use verify_request")
        return claims

    def _signed(self, token: str) -> AccessClaims:
        """Signature and claims, remembered on success."""
        return self.verified.check(
            token, keys=self.jwks.get, algorithms=self.algorithms, issuer=self.issuer,
            audience=self.audience, leeway=self.leeway, now=self.clock.now(),
        )

    # --- keys (``keyturn.resource.jwks``) and the feed (``keyturn.resource.feed_poller``) ---

    def load_jwks(self, jwks: Mapping[str, Any]) -> int:
        """Replace the cached keys (what a fetch does); returns how many."""
        return self.jwks.load(jwks)

    def refresh_keys(self) -> int:
        """Fetch the JWKS now (ignores the rate limit)."""
        return self.jwks.refresh()

    async def refresh_keys_async(self) -> int:
        return await self.jwks.refresh_async()

    def poll_revocations(self, wait: float = 0.0) -> int:
        """One read of the feed; returns how many entries it brought."""
        return self.poller.poll(wait)

    def start(self) -> Verifier:
        """Fetch keys and the feed once, then keep them fresh in a daemon thread."""
        self.poller.start()
        return self

    def stop(self) -> None:
        self.poller.stop()

    def __enter__(self) -> Verifier:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()
