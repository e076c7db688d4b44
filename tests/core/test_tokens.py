"""Access tokens: sign/verify with pinned algorithms, claims in one step."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from keyturn.core.tokens import AccessClaims, SigningKey, verify_access_token
from keyturn.errors import TokenExpired, TokenInvalid
from keyturn.service.keys import KeyCipher, generate

NOW = 1_800_000_000


def key(alg: str) -> SigningKey:
    return generate(alg, KeyCipher(b"m" * 32), NOW)[1]


def claims(**kw: Any) -> AccessClaims:
    base = dict(iss="keyturn", aud="keyturn", sub="u1", sid="s1", jti="j1", iat=NOW, exp=NOW + 1800)
    base.update(kw)
    return AccessClaims(**base)  # type: ignore[arg-type]


def verify(token: str, k: SigningKey, *, now: float = NOW + 1, algs: tuple[str, ...] | None = None, **kw: Any) -> AccessClaims:
    opts: dict[str, Any] = dict(issuer="keyturn", audience="keyturn", leeway=5)
    opts.update(kw)
    return verify_access_token(
        token, keys={k.kid: k}.get, algorithms=algs or (k.alg,), now=now, **opts
    )


@pytest.mark.parametrize("alg", ["EdDSA", "ES256", "HS256"])
def test_round_trip(alg: str) -> None:
    k = key(alg)
    token = k.sign(claims())
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": alg, "kid": k.kid, "typ": "at+jwt"}
    assert verify(token, k) == claims()


def test_expired_only_when_otherwise_valid() -> None:
    k = key("EdDSA")
    token = k.sign(claims())
    assert verify(token, k, now=NOW + 1800 + 4.9).sub == "u1"  # inside leeway
    with pytest.raises(TokenExpired):
        verify(token, k, now=NOW + 1800 + 5)
    forged = token[:-4] + ("AAAA" if token[-4:] != "AAAA" else "BBBB")
    with pytest.raises(TokenInvalid) as info:
        verify(forged, k, now=NOW + 1800 + 5)
    assert type(info.value) is TokenInvalid
    with pytest.raises(TokenInvalid) as info:
        verify(token, k, now=NOW + 1800 + 5, issuer="other")
    assert type(info.value) is TokenInvalid


@pytest.mark.parametrize(
    "mutate",
    [
        lambda: dict(issuer="other"),
        lambda: dict(audience="other"),
        lambda: dict(algs=("ES256",)),
    ],
)
def test_claim_and_alg_checks(mutate: Callable[[], dict[str, Any]]) -> None:
    k = key("EdDSA")
    with pytest.raises(TokenInvalid):
        verify(k.sign(claims()), k, **mutate())


def test_issued_in_future_beyond_leeway() -> None:
    k = key("EdDSA")
    assert verify(k.sign(claims(iat=NOW + 5)), k, now=NOW)
    with pytest.raises(TokenInvalid):
        verify(k.sign(claims(iat=NOW + 6)), k, now=NOW)


def test_unknown_kid_and_alg_bound_to_key() -> None:
    ed, hs = key("EdDSA"), key("HS256")
    token = hs.sign(claims())
    with pytest.raises(TokenInvalid):
        verify_access_token(token, keys={ed.kid: ed}.get, algorithms=("EdDSA", "HS256"),
                            issuer="keyturn", audience="keyturn", leeway=5, now=NOW)
    # A token naming the Ed25519 key but claiming HS256 is refused before any check.
    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "kid": ed.kid, "typ": "at+jwt"}).encode()).rstrip(b"=").decode()
    with pytest.raises(TokenInvalid):
        verify_access_token(header + "." + token.split(".", 1)[1], keys={ed.kid: ed}.get,
                            algorithms=("EdDSA", "HS256"), issuer="keyturn", audience="keyturn", leeway=5, now=NOW)


@pytest.mark.parametrize("typ", [None, "JWT", "dpop+jwt", 5])
def test_typ_must_be_at_jwt(typ: object) -> None:
    k = key("HS256")
    header = {"alg": "HS256", "kid": k.kid}
    if typ is not None:
        header["typ"] = typ  # type: ignore[assignment]
    import jwt

    token = jwt.encode(claims().to_dict(), k.private, algorithm="HS256", headers=header)
    with pytest.raises(TokenInvalid):
        verify(token, k)


@pytest.mark.parametrize("garbage", ["", "a.b", "a.b.c", "...", "x" * 9000, "é.é.é"])
def test_garbage_is_invalid(garbage: str) -> None:
    with pytest.raises(TokenInvalid):
        verify(garbage, key("EdDSA"))
