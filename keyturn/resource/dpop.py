"""DPoP at a resource server (RFC 9449 §7.1): a token bound to a key
(``cnf.jkt``) is accepted only with ``Authorization: DPoP <token>`` and a
proof from that key for this request.

The proof checks are the service's own (``keyturn.core.dpop``); the replay
cache is local to this process (RFC 9449 §11.1 allows it): a proof replayed
to *another* resource-server process inside the ``iat`` window is not
caught here, only its method, URL, access-token hash and age bound it.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Collection, Iterable, Mapping
from urllib.parse import urlsplit

from keyturn.core import dpop
from keyturn.core.credentials import access_token
from keyturn.core.tokens import AccessClaims
from keyturn.errors import InvalidDpopProof, NotDpopBound

Headers = Mapping[str, str] | Iterable[tuple[str, str]]
DEFAULT_ALGORITHMS = ("EdDSA", "Ed25519", "ES256", "ES384", "RS256", "PS256")


def header_list(headers: Headers) -> list[tuple[str, str]]:
    """The headers as a list of pairs, read once (``items()`` may be a generator)."""
    return list(headers.items() if isinstance(headers, Mapping) else headers)


def header_values(headers: Headers, name: str) -> list[str]:
    """Every value of header ``name`` (case-insensitive), in order."""
    return [value for key, value in header_list(headers) if key.lower() == name]


def credentials(headers: Headers) -> tuple[str, str]:
    """``(scheme, token)`` of the one ``Authorization`` header."""
    values = header_values(headers, "authorization")
    return access_token(values[0] if len(values) == 1 else None)


def effective_url(url: str, public_url: str | None) -> str:
    """The URL a client means: with a configured public URL, its origin and
    path prefix in front of the request's path (a proof made for another
    origin, same path, is refused)."""
    if not public_url:
        return url
    base = urlsplit(public_url)
    path = urlsplit(url).path or "/"
    return f"{base.scheme}://{base.netloc}{base.path.rstrip('/')}{path}"


class ReplayCache:
    """Proof ``jti``s seen by this process, each kept until its proof could
    no longer pass the ``iat`` window."""

    def __init__(self, limit: int = 100_000) -> None:
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()
        self._limit = limit

    def first_use(self, key: str, *, now: float, expires_at: float) -> bool:
        with self._lock:
            if len(self._until) >= self._limit:
                self._until = {k: t for k, t in self._until.items() if t > now}
                if len(self._until) >= self._limit:
                    return False  # fail closed rather than forget a jti
            seen = self._until.get(key)
            if seen is not None and seen > now:
                return False
            self._until[key] = expires_at
            return True


class DpopChecker:
    """Checks the proof that must come with a bound token."""

    def __init__(
        self, *, window: float, leeway: float, algorithms: Collection[str], public_url: str | None = None
    ) -> None:
        self.window = window
        self.leeway = leeway
        self.algorithms = tuple(algorithms)
        self.public_url = public_url
        self.replay = ReplayCache()

    def check(self, claims: AccessClaims, scheme: str, token: str, method: str, url: str, headers: Headers,
              now: float) -> None:
        """``InvalidDpopProof`` unless the token's binding is proven (or
        it has none and came as a bearer)."""
        if claims.cnf_jkt is None:
            if scheme == "dpop":
                raise NotDpopBound()
            return
        if scheme != "dpop":
            raise InvalidDpopProof("a DPoP-bound access token needs 'Authorization: DPoP' and a DPoP proof")
        proofs = header_values(headers, "dpop")
        if len(proofs) != 1 or not proofs[0]:
            raise InvalidDpopProof("exactly one DPoP proof is required")
        proof = dpop.check_proof(
            dpop.parse_jws(proofs[0]), method=method, url=effective_url(url, self.public_url), now=now,
            window=self.window, leeway=self.leeway, algorithms=self.algorithms, access_token=token,
        )
        if not hmac.compare_digest(proof.jkt, claims.cnf_jkt):
            raise InvalidDpopProof("the DPoP proof is not from the key the token is bound to")
        expires = proof.iat + self.window + self.leeway
        if not self.replay.first_use(dpop.replay_key(proof.jkt, proof.jti), now=now, expires_at=expires):
            raise InvalidDpopProof("the DPoP proof was already used")
