"""DPoP proof checks (RFC 9449), pure: given a proof, the request it came
with and ``now``, decide whether it proves possession of a key.

Checked, in the order of RFC 9449 §4.3: a well-formed compact JWS with
canonical base64url and unique JSON members; ``typ: dpop+jwt``; an
asymmetric ``alg`` from the configured list, matching the key type; a
public ``jwk`` (no private members) that verifies the signature; ``jti``,
``htm`` and ``htu`` (without query and fragment) matching the request;
``iat`` inside the window; and ``ath`` when an access token is presented.
Replay (the ``jti`` seen before) is for the caller's shared cache.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from keyturn.core import jws
from keyturn.core.algorithms import ALGORITHMS
from keyturn.core.jws import ParsedJws
from keyturn.core.refresh import b64encode
from keyturn.errors import InvalidDpopProof

DPOP_TYP = "dpop+jwt"
# A proof from the largest accepted key (RSA 4096: 683-character n and
# signature) is under 2 KiB; anything much larger is not a proof.
MAX_PROOF_LENGTH = 4096
RSA_BITS = (2048, 4096)
RSA_EXPONENT = 65537
_ALGORITHMS = ALGORITHMS
# alg -> (kty, allowed curves or None)
_KEY_TYPES: dict[str, tuple[str, frozenset[str] | None]] = {
    # Only keys whose verification costs what an honest client's does: the
    # attacker picks the key, so a huge RSA exponent or modulus would let
    # them pick our CPU time too.
    "EdDSA": ("OKP", frozenset({"Ed25519"})),
    "Ed25519": ("OKP", frozenset({"Ed25519"})),  # RFC 9864's fully-specified name
    "ES256": ("EC", frozenset({"P-256"})),
    "ES384": ("EC", frozenset({"P-384"})),
    **{f"{p}{n}": ("RSA", None) for p in ("RS", "PS") for n in ("256", "384", "512")},
}
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}


@dataclass(frozen=True, slots=True)
class DpopProof:
    """What a valid proof establishes: the key's thumbprint, and the ``jti``
    the caller must record to refuse a replay."""

    jkt: str
    jti: str
    iat: int
    nonce: str | None = None  # RFC 9449 §8: checked by whoever issued nonces


def parse_jws(proof: str) -> ParsedJws:
    try:
        return jws.read(proof, max_length=MAX_PROOF_LENGTH)
    except ValueError:
        raise InvalidDpopProof("the DPoP proof is malformed") from None


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint: the required members, sorted, no spaces."""
    kty = jwk.get("kty")
    members = _THUMBPRINT_MEMBERS.get(kty) if isinstance(kty, str) else None
    if members is None or not all(isinstance(jwk.get(m), str) for m in members):
        raise InvalidDpopProof("the DPoP key is not a supported public JWK")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return b64encode(hashlib.sha256(canonical.encode("utf-8")).digest())


def access_token_hash(access_token: str) -> str:
    """RFC 9449 §4.2 ``ath``: base64url(SHA-256(ASCII(access token)))."""
    return b64encode(hashlib.sha256(access_token.encode("ascii", "replace")).digest())


def normalize_htu(url: str) -> str:
    """Scheme and host lower-cased, default port dropped, no query or
    fragment (RFC 9449 §4.3 point 9, RFC 3986 §6.2.2-3)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    return f"{scheme}://{host}{parts.path or '/'}"


def _public_key(alg: str, jwk: Any) -> Any:
    if not isinstance(jwk, dict):
        raise InvalidDpopProof("the DPoP proof has no jwk header")
    if _PRIVATE_MEMBERS & jwk.keys():
        # RFC 9449 §4.3 point 7: the jwk must not contain a private key.
        raise InvalidDpopProof("the DPoP jwk contains private key material")
    kty, curves = _KEY_TYPES[alg]
    if jwk.get("kty") != kty or (curves is not None and jwk.get("crv") not in curves):
        raise InvalidDpopProof("the DPoP key does not match its algorithm")
    try:
        key = _ALGORITHMS[alg].from_jwk(jwk)
    except Exception:  # noqa: BLE001 - any malformed key is a bad proof
        raise InvalidDpopProof("the DPoP jwk is malformed") from None
    if kty == "RSA":
        numbers = key.public_numbers()
        if not RSA_BITS[0] <= key.key_size <= RSA_BITS[1] or numbers.e != RSA_EXPONENT:
            raise InvalidDpopProof("the DPoP key must be RSA 2048-4096 bits with e = 65537")
    return key


def check_proof(
    jws: ParsedJws,
    *,
    method: str,
    url: str,
    now: float,
    window: float,
    leeway: float,
    algorithms: Collection[str],
    access_token: str | None = None,
) -> DpopProof:
    header, claims = jws.header, jws.payload
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() != DPOP_TYP:
        raise InvalidDpopProof("the DPoP proof must have typ dpop+jwt")
    if "crit" in header:
        raise InvalidDpopProof("unsupported critical header in the DPoP proof")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms or alg not in _KEY_TYPES:
        raise InvalidDpopProof("the DPoP proof algorithm is not allowed")
    jwk = header.get("jwk")
    key = _public_key(alg, jwk)
    try:
        ok = bool(jws.signature) and _ALGORITHMS[alg].verify(jws.signing_input, key, jws.signature)
    except Exception:  # noqa: BLE001 - malformed signatures raise from some backends
        ok = False
    if not ok:
        raise InvalidDpopProof("the DPoP proof signature is invalid")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 1 <= len(jti) <= 256:
        raise InvalidDpopProof("the DPoP proof needs a jti")
    if claims.get("htm") != method.upper():
        raise InvalidDpopProof("the DPoP proof is for another HTTP method")
    htu = claims.get("htu")
    try:
        same_url = isinstance(htu, str) and len(htu) <= 2048 and normalize_htu(htu) == normalize_htu(url)
    except ValueError:  # e.g. a port out of range
        same_url = False
    if not same_url:
        raise InvalidDpopProof("the DPoP proof is for another URL")
    iat = claims.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, (int, float)) or not math.isfinite(iat):
        raise InvalidDpopProof("the DPoP proof needs an iat")
    if iat > now + leeway or iat < now - window:
        raise InvalidDpopProof("the DPoP proof is too old or from the future")
    if access_token is not None:
        ath = claims.get("ath")
        if not isinstance(ath, str) or not hmac.compare_digest(ath, access_token_hash(access_token)):
            raise InvalidDpopProof("the DPoP proof does not match the access token")
    assert isinstance(jwk, dict)
    nonce = claims.get("nonce")
    return DpopProof(jwk_thumbprint(jwk), jti, int(iat), nonce if isinstance(nonce, str) and len(nonce) <= 256 else None)


def replay_key(jkt: str, jti: str) -> str:
    """The replay-cache key of a proof: per key, so one client's ``jti``
    cannot collide with another's."""
    return "dpop:" + hashlib.sha256(f"{jkt}\x00{jti}".encode()).hexdigest()[:40]
