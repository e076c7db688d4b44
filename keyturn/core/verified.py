"""Access tokens already verified, so a token seen again costs a lookup.

A verifier sees the same token on every request a client makes until it
expires; checking its signature each time is most of the work. This cache
remembers what ``verify_access_token`` concluded, and only that:

* keyed by the whole token string, so a changed signature, header or
  payload is another key and gets the full check;
* only successes: a failure is never remembered as a pass (and failures
  are not remembered at all, so garbage cannot fill the cache);
* valid from ``iat - leeway`` until ``exp + leeway``, exactly the window
  the full check accepts;
* a hit counts only while the key that checked the signature is still the
  one the caller's key lookup returns under that ``kid`` (one dict read and
  an identity test), so a revoked, dropped or replaced key ends its
  entries at once, before ``forget_keys`` purges them and even for an entry
  a racing verification put back after the purge;
* bounded: least recently used entries go first.

What the cache does not decide stays with the caller, on every hit:
revocation (sessions, ``jti``s), the denylist and the DPoP proof.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass

from keyturn.core.tokens import AccessClaims, KeyLookup, SigningKey, verify_access_token

DEFAULT_MAX_ENTRIES = 10_000  # ~0.9-1.4 kB an entry (token of 300-800 bytes + claims): ~10-15 MB full


@dataclass(frozen=True, slots=True)
class Verified:
    """One token's verdict: its claims, the key that checked it, and the
    window in which the full check would still accept it."""

    claims: AccessClaims
    key: SigningKey
    valid_from: float
    valid_until: float


class VerifiedTokens:
    """``check`` verifies and remembers; ``hit`` answers a token seen before.

    Thread-safe (a resource server verifies from many threads).
    """

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_entries < 0:
            raise ValueError("max_entries must be >= 0")
        self.max_entries = max_entries
        self._entries: OrderedDict[str, Verified] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def hit(self, token: str, now: float, keys: KeyLookup) -> AccessClaims | None:
        """The claims of ``token`` if it passed ``check`` before, is still
        inside its window at ``now`` and its key is still ``keys(kid)``;
        ``None`` means: run the full check."""
        with self._lock:
            entry = self._entries.get(token)
            if entry is None:
                self.misses += 1
                return None
            if not entry.valid_from <= now < entry.valid_until or keys(entry.key.kid) is not entry.key:
                # Expired, or its key is gone: the full check gives the verdict.
                del self._entries[token]
                self.misses += 1
                return None
            self._entries.move_to_end(token)
            self.hits += 1
            return entry.claims

    def check(
        self, token: str, *, keys: KeyLookup, algorithms: Collection[str], issuer: str, audience: str,
        leeway: float, now: float,
    ) -> AccessClaims:
        """``verify_access_token``, remembering a success (never a failure)."""
        used: list[SigningKey] = []

        def lookup(kid: str) -> SigningKey | None:
            key = keys(kid)
            if key is not None:
                used.append(key)
            return key

        claims = verify_access_token(
            token, keys=lookup, algorithms=algorithms, issuer=issuer, audience=audience, leeway=leeway, now=now,
        )
        if used and self.max_entries:
            entry = Verified(claims, used[-1], claims.iat - leeway, claims.exp + leeway)
            with self._lock:
                self._entries[token] = entry
                self._entries.move_to_end(token)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
        return claims

    def forget_keys(self, kids: Collection[str]) -> int:
        """Drop every entry signed by one of ``kids`` (a revoked or dropped
        key); returns how many."""
        if not kids:
            return 0
        with self._lock:
            gone = [t for t, e in self._entries.items() if e.key.kid in kids]
            for token in gone:
                del self._entries[token]
        return len(gone)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
