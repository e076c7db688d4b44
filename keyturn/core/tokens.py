"""Access tokens: JWTs per RFC 9068 (``typ: at+jwt``), signed and verified
with a pinned algorithm list.

The compact serialisation is done here, strictly, on top of PyJWT's
algorithm objects (the cryptography stays theirs): every part must be
canonical base64url, JSON members must be unique, ``alg`` must be in the
configured list *and* be the one bound to the key named by ``kid``, and
claim checks happen in the same call as the signature check, so no caller can
forget them (RFC 8725 §2.1, §3.1, §3.11).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from jwt.algorithms import Algorithm

from keyturn.core import jws
from keyturn.core.algorithms import ALGORITHMS
from keyturn.core.refresh import b64encode
from keyturn.errors import TokenExpired, TokenInvalid

ACCESS_TYP = "at+jwt"
# What ``AccessClaims`` holds in fields of its own; every other claim is the
# app's (``AccessClaims.extra``).
_KEYTURN_CLAIMS = frozenset({"iss", "aud", "sub", "sid", "jti", "iat", "exp", "nbf", "scope", "cnf", "client_id"})
MAX_TOKEN_LENGTH = 8192
_ALGORITHMS: dict[str, Algorithm] = ALGORITHMS  # Ed25519 (RFC 9864) included


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """The verified claims of an access token."""

    iss: str
    aud: str
    sub: str
    sid: str
    jti: str
    iat: int
    exp: int
    scope: str | None = None
    cnf_jkt: str | None = None
    client_id: str | None = None  # RFC 9068 §2.2
    # The app's claims for the user (``keyturn.core.claims``): never a
    # name above, which keyturn sets itself.
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def scopes(self) -> frozenset[str]:
        """The space-separated ``scope`` as a set (RFC 9068 §2.2.3)."""
        return frozenset((self.scope or "").split())

    @property
    def roles(self) -> tuple[str, ...]:
        """The app's ``roles`` claim: a list of strings (or one
        space-separated string); anything else counts as no roles."""
        raw = self.extra.get("roles")
        if isinstance(raw, str):
            return tuple(raw.split())
        if isinstance(raw, list):
            return tuple(r for r in raw if isinstance(r, str))
        return ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra)
        out.update({
            "iss": self.iss,
            "aud": self.aud,
            "sub": self.sub,
            "sid": self.sid,
            "jti": self.jti,
            "iat": self.iat,
            "exp": self.exp,
        })
        if self.client_id is not None:
            out["client_id"] = self.client_id
        if self.scope is not None:
            out["scope"] = self.scope
        if self.cnf_jkt is not None:
            out["cnf"] = {"jkt": self.cnf_jkt}
        return out


@dataclass(frozen=True)
class SigningKey:
    """One key, one algorithm, bound together: a token naming this ``kid``
    with another ``alg`` is refused."""

    kid: str
    alg: str
    private: Any  # cryptography key object or HMAC secret bytes
    public: Any
    header_b64: str

    @classmethod
    def create(cls, kid: str, alg: str, private: Any, public: Any) -> SigningKey:
        header = orjson.dumps({"alg": alg, "kid": kid, "typ": ACCESS_TYP})
        return cls(kid, alg, private, public, b64encode(header))

    def sign(self, claims: AccessClaims) -> str:
        signing_input = f"{self.header_b64}.{b64encode(orjson.dumps(claims.to_dict()))}"
        sig = _ALGORITHMS[self.alg].sign(signing_input.encode("ascii"), self.private)
        return f"{signing_input}.{b64encode(sig)}"


KeyLookup = Callable[[str], SigningKey | None]


def peek_kid(token: str) -> str | None:
    """The ``kid`` of a token's header, trusting nothing else in it: only to
    decide whether a key set is worth refreshing before the real check."""
    head = token.split(".", 1)[0]
    if len(head) > 1024:
        return None
    try:
        header = jws.json_object(head)
    except ValueError:
        return None
    kid = header.get("kid")
    return kid if isinstance(kid, str) and len(kid) <= 128 else None


def _int_claim(payload: dict[str, Any], name: str, required: bool = True) -> int | None:
    value = payload.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TokenInvalid(f"claim {name!r} is missing or not a number")
    return int(value)


def _str_claim(payload: dict[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value or len(value) > 255:
        raise TokenInvalid(f"claim {name!r} is missing or invalid")
    return value


def verify_access_token(
    token: str,
    *,
    keys: KeyLookup,
    algorithms: Collection[str],
    issuer: str,
    audience: str,
    leeway: float,
    now: float,
) -> AccessClaims:
    """Verify signature and claims in one step.

    Raises ``TokenExpired`` only for a well-formed, correctly signed token
    whose only fault is ``exp`` (the one case a refresh helps), and
    ``TokenInvalid`` for everything else.
    """
    try:
        parts = jws.read(token, max_length=MAX_TOKEN_LENGTH, payload=False)
    except ValueError:
        raise TokenInvalid("malformed token") from None
    header, signature = parts.header, parts.signature
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in (ACCESS_TYP, "application/at+jwt"):
        raise TokenInvalid("not an access token")
    if "crit" in header:
        # RFC 7515 §4.1.11: we understand no extension, so any is fatal.
        raise TokenInvalid("unsupported critical header")
    alg, kid = header.get("alg"), header.get("kid")
    if not isinstance(alg, str) or alg not in algorithms:
        raise TokenInvalid("algorithm not allowed")
    if not isinstance(kid, str) or not kid or len(kid) > 128:
        raise TokenInvalid("unknown key")
    key = keys(kid)
    if key is None or key.alg != alg:
        raise TokenInvalid("unknown key")
    if not signature:
        raise TokenInvalid("bad signature")
    try:
        ok = _ALGORITHMS[alg].verify(parts.signing_input, key.public, signature)
    except Exception:  # malformed signatures raise from some backends
        ok = False
    if not ok:
        raise TokenInvalid("bad signature")
    try:
        payload = jws.json_object(token.split(".")[1])
    except ValueError:
        raise TokenInvalid("malformed token") from None
    return _check_claims(payload, issuer=issuer, audience=audience, leeway=leeway, now=now)


def _check_claims(
    payload: dict[str, Any], *, issuer: str, audience: str, leeway: float, now: float
) -> AccessClaims:
    if payload.get("iss") != issuer:
        raise TokenInvalid("wrong issuer")
    aud = payload.get("aud")
    if not (aud == audience or (isinstance(aud, list) and audience in aud)):
        raise TokenInvalid("wrong audience")
    exp = _int_claim(payload, "exp")
    iat = _int_claim(payload, "iat")
    nbf = _int_claim(payload, "nbf", required=False)
    assert exp is not None and iat is not None
    if iat > now + leeway:
        raise TokenInvalid("token issued in the future")
    if nbf is not None and nbf > now + leeway:
        raise TokenInvalid("token not yet valid")
    scope = payload.get("scope")
    cnf = payload.get("cnf")
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    client_id = payload.get("client_id")
    claims = AccessClaims(
        iss=issuer,
        aud=audience,
        sub=_str_claim(payload, "sub"),
        sid=_str_claim(payload, "sid"),
        jti=_str_claim(payload, "jti"),
        iat=iat,
        exp=exp,
        scope=scope if isinstance(scope, str) else None,
        cnf_jkt=jkt if isinstance(jkt, str) else None,
        client_id=client_id if isinstance(client_id, str) else None,
        extra={k: v for k, v in payload.items() if k not in _KEYTURN_CLAIMS},
    )
    if now >= exp + leeway:
        raise TokenExpired()
    return claims
