"""The resource server's cache of the service's verification keys (RFC 7517).

Keys come from the JWKS, cached; an unknown ``kid`` triggers at most one
refetch per ``min_refetch_interval`` so garbage ``kid`` values cannot make
us hammer the service. A key revoked on the revocation feed is never
trusted again, whatever a later JWKS says. The sync and async fetches
differ only in the HTTP call: what they do with the answer, and with a
failure, is one loader (``_loaded``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx
from keyturn.core.algorithms import ALGORITHMS
from keyturn.core.tokens import SigningKey
from keyturn.errors import SigningKeyRevoked

log = logging.getLogger("keyturn.verify")
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
            key = ALGORITHMS[alg].from_jwk(json.dumps(jwk))
        except Exception:  # a malformed entry must not take the others down
            log.warning("ignoring malformed JWK %s", kid)
            continue
        public = key.public_key() if hasattr(key, "private_bytes") else key  # never keep a private half
        found[kid] = SigningKey.create(kid, alg, None, public)
    return found


class JwksCache:
    """The live keys by ``kid``: the JWKS's, plus the ``hmac_keys`` given
    (a JWKS never carries a shared secret). ``forget`` is told which kids
    left or changed, so what they verified is no longer taken on trust."""

    def __init__(
        self,
        url: str | None,
        *,
        algorithms: Collection[str],
        hmac_keys: Mapping[str, bytes] | None = None,
        min_refetch_interval: float = 10.0,
        max_age: float = 300.0,
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        forget: Callable[[Collection[str]], object] = lambda kids: None,
    ) -> None:
        if "none" in {a.lower() for a in algorithms}:
            raise ValueError("'none' is never an acceptable algorithm")
        if "HS256" in algorithms and not hmac_keys:
            raise ValueError("HS256 needs hmac_keys: a JWKS never carries the shared secret")
        self.url = url
        self.algorithms = tuple(algorithms)
        self.min_refetch_interval = min_refetch_interval
        self.max_age = max_age
        self._static = {
            kid: SigningKey.create(kid, "HS256", bytes(secret), bytes(secret)) for kid, secret in (hmac_keys or {}).items()
        }
        self.keys: dict[str, SigningKey] = dict(self._static)
        self.revoked: frozenset[str] = frozenset()  # from the feed; never trusted again
        self._forget = forget
        self._timeout = timeout
        self._transport = transport
        self._async_transport = async_transport
        self._last_fetch = float("-inf")
        self._aged_from = time.monotonic()
        self._fetch_lock = threading.Lock()

    def get(self, kid: str) -> SigningKey | None:
        return self.keys.get(kid)

    def live(self, kid: str) -> SigningKey | None:
        """The key under ``kid`` unless the feed revoked it: what a cache hit
        re-checks, so a key revoked since the token was verified ends it."""
        return None if kid in self.revoked else self.keys.get(kid)

    def needs_fetch(self, kid: str | None) -> bool:
        """An unknown ``kid``, and the right to fetch the JWKS now. A token of
        a revoked key is refused here, before any fetch could bring it back."""
        if kid is not None and kid in self.revoked:
            raise SigningKeyRevoked()  # its tokens are refused (refresh helps)
        return kid is not None and kid not in self.keys and self.may_fetch()

    def revoke(self, kids: Collection[str]) -> None:
        """Keys revoked on the feed: dropped now and never loaded again."""
        self.revoked = self.revoked | set(kids)
        self.keys = {k: v for k, v in self.keys.items() if k not in self.revoked}
        self._forget(set(kids))

    def load(self, jwks: Mapping[str, Any]) -> int:
        """Replace the cached keys (what a fetch does); returns how many.
        An unchanged key keeps its object, so the tokens it verified stay
        remembered; tokens of a key that left or changed are forgotten."""
        keys = {**keys_from_jwks(jwks, self.algorithms), **self._static}
        old = self.keys
        live: dict[str, SigningKey] = {}
        for kid, key in keys.items():
            if kid in self.revoked:
                continue
            prior = old.get(kid)
            if prior is not None and prior.alg == key.alg and prior.public == key.public:
                key = prior  # unchanged: the tokens it verified stay remembered
            live[kid] = key
        self.keys = live
        self._forget({kid for kid, key in old.items() if live.get(kid) is not key})
        return len(keys)

    def may_fetch(self) -> bool:
        """Claim the right to fetch now, at most once per interval."""
        if self.url is None:
            return False
        with self._fetch_lock:
            mono = time.monotonic()
            if mono - self._last_fetch < self.min_refetch_interval:
                return False
            self._last_fetch = mono
            return True

    def warm(self) -> None:
        """The first fetch (rate-limited) and the start of the ``max_age`` clock."""
        self._aged_from = time.monotonic()
        if self.may_fetch():
            self.fetch()

    def keep_fresh(self) -> None:
        """Refetch once the keys are ``max_age`` old (the poller thread's chore)."""
        if self.url is not None and time.monotonic() - self._aged_from >= self.max_age:
            self._aged_from = self._last_fetch = time.monotonic()
            self.fetch()

    def refresh(self) -> int:
        """Fetch the JWKS now (ignores the rate limit); raises on failure."""
        self._last_fetch = time.monotonic()
        return self.fetch(raise_errors=True)

    async def refresh_async(self) -> int:
        self._last_fetch = time.monotonic()
        return await self.fetch_async(raise_errors=True)

    def fetch(self, raise_errors: bool = False) -> int:
        with self._loaded(raise_errors) as load:
            with httpx.Client(transport=self._transport, timeout=self._timeout) as client:
                return load(client.get(self._url()))
        return 0

    async def fetch_async(self, raise_errors: bool = False) -> int:
        with self._loaded(raise_errors) as load:
            async with httpx.AsyncClient(transport=self._async_transport, timeout=self._timeout) as client:
                return load(await client.get(self._url()))
        return 0

    def _url(self) -> str:
        assert self.url is not None, "no JWKS URL configured"
        return self.url

    @contextmanager
    def _loaded(self, raise_errors: bool) -> Iterator[Callable[[httpx.Response], int]]:
        """The one loader both fetches share: the answer's keys replace the
        cache; a failure keeps the old keys, logged (or raised, on demand)."""
        try:
            yield lambda response: self.load(response.raise_for_status().json())
        except (httpx.HTTPError, ValueError):
            if raise_errors:
                raise
            log.warning("could not fetch the JWKS from %s", self.url)
