"""Pure policies: throttling delays, DPoP proof checks, denylist keys."""

from __future__ import annotations

import pytest

from keyturn.core import dpop, throttle
from keyturn.core.denylist import session_key, token_key
from keyturn.core.throttle import Counter
from keyturn.errors import InvalidDpopProof
from tests.dpop_client import DpopKey

NOW = 1_795_000_000.0
URL = "https://auth.example/auth/me"


@pytest.mark.parametrize(
    ("count", "since_last", "expected"),
    [(9, 0, 0.0), (10, 0, 1.0), (11, 0, 2.0), (12, 1, 3.0), (14, 0, 16.0), (40, 0, 300.0), (40, 300, 0.0)],
)
def test_account_delay_doubles_and_is_capped(count: int, since_last: float, expected: float) -> None:
    delay = throttle.account_delay(Counter(count, NOW - since_last), NOW, max_failures=10, max_delay=300)
    assert delay == expected


def test_window_delay_waits_for_the_next_minute() -> None:
    start = throttle.window_start(NOW)
    assert throttle.window_delay(19, 20, start + 15) == 0
    assert throttle.window_delay(20, 20, start + 15) == 45


@pytest.mark.parametrize(
    ("ip", "key"),
    [("198.51.100.7", "198.51.100.7"), ("2001:db8:1:2:3::9", "2001:db8:1:2::/64"), ("::ffff:198.51.100.7", "198.51.100.7"),
     (None, "-"), ("junk", "-")],
)
def test_address_key(ip: str | None, key: str) -> None:
    assert throttle.address_key(ip) == key


def test_account_key_hides_the_name_and_folds_nothing_itself() -> None:
    assert throttle.account_key("alice") != throttle.account_key("bob")
    assert "alice" not in throttle.account_key("alice")


def test_denylist_keys_never_hold_the_token() -> None:
    assert session_key("abc") == "s:abc"
    key = token_key("keyturn", "jti-1")
    assert key.startswith("j:") and "jti-1" not in key and key != token_key("other", "jti-1")


def _check(proof: str, **kw: object) -> dpop.DpopProof:
    args: dict[str, object] = {"method": "GET", "url": URL, "now": NOW, "window": 60, "leeway": 5,
                               "algorithms": ("ES256", "EdDSA")}
    args.update(kw)
    return dpop.check_proof(dpop.parse_jws(proof), **args)  # type: ignore[arg-type]


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_a_good_proof_names_its_key(alg: str) -> None:
    key = DpopKey(alg)
    assert _check(key.proof("GET", URL + "?q=1#f", iat=NOW)).jkt == key.jkt


def test_rfc7638_thumbprint_example() -> None:
    # RFC 7638 §3.1 example key and thumbprint.
    jwk = {"kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29", "n": (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMs"
        "tn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5"
        "hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")}
    assert dpop.jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"method": "POST"}, "method"),
        ({"url": "https://auth.example/auth/sessions"}, "URL"),
        ({"url": "https://evil.example/auth/me"}, "URL"),
        ({"now": NOW + 61}, "too old"),
        ({"now": NOW - 6}, "future"),
        ({"algorithms": ("EdDSA",)}, "algorithm"),
        ({"access_token": "some.access.token"}, "access token"),
    ],
)
def test_a_proof_for_something_else_is_refused(change: dict[str, object], reason: str) -> None:
    proof = DpopKey().proof("GET", URL, iat=NOW)
    with pytest.raises(InvalidDpopProof, match=reason):
        _check(proof, **change)


def test_ath_must_match_the_presented_access_token() -> None:
    key = DpopKey()
    assert _check(key.proof("GET", URL, iat=NOW, access_token="a.b.c"), access_token="a.b.c")
    with pytest.raises(InvalidDpopProof):
        _check(key.proof("GET", URL, iat=NOW, access_token="a.b.c"), access_token="a.b.d")


@pytest.mark.parametrize(
    "header",
    [{"typ": "JWT"}, {"jwk": None}, {"crit": ["exp"]}, {"alg_is": "none"}],
)
def test_malformed_headers_are_refused(header: dict[str, object]) -> None:
    key = DpopKey()
    if "alg_is" in header:
        proof = "eyJhbGciOiJub25lIiwidHlwIjoiZHBvcCtqd3QifQ.eyJqdGkiOiJ4In0."
    else:
        proof = key.proof("GET", URL, iat=NOW, header=header)
    with pytest.raises(InvalidDpopProof):
        _check(proof)


def test_a_private_jwk_or_a_key_of_another_type_is_refused() -> None:
    key = DpopKey()
    private_jwk = dict(key.jwk, d="AAAA")
    with pytest.raises(InvalidDpopProof, match="private"):
        _check(key.proof("GET", URL, iat=NOW, header={"jwk": private_jwk}))
    ed = DpopKey("EdDSA")
    with pytest.raises(InvalidDpopProof, match="match"):
        _check(key.proof("GET", URL, iat=NOW, header={"jwk": ed.jwk}))


def test_a_proof_signed_by_another_key_is_refused() -> None:
    a, b = DpopKey(), DpopKey()
    with pytest.raises(InvalidDpopProof, match="signature"):
        _check(a.proof("GET", URL, iat=NOW, header={"jwk": b.jwk}))


@pytest.mark.parametrize("proof", ["", "a.b", "a.b.c", "x" * 9000, "e30.e30.", "W10.e30.AA"])
def test_garbage_is_refused(proof: str) -> None:
    with pytest.raises(InvalidDpopProof):
        _check(proof)


def test_htu_normalisation() -> None:
    assert dpop.normalize_htu("HTTPS://Auth.Example:443/x?y#z") == "https://auth.example/x"
    assert dpop.normalize_htu("http://a:8080") == "http://a:8080/"
