"""DPoP proofs whose cost the attacker chooses: only sane keys are
verified (RSA 2048–4096 bits with e = 65537, EC P-256/P-384, Ed25519), and
invalid proofs count towards the per-address throttle."""

from __future__ import annotations

import math
import secrets
import warnings
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from keyturn.core import dpop
from tests.attacks.conftest import assert_refused
from tests.conftest import PASSWORD
from tests.dpop_client import DpopKey

LOGIN = "http://keyturn.test/auth/login"


def rsa_key(bits: int, exponent: str) -> rsa.RSAPrivateKey:
    """An RSA key with a chosen public exponent: ``"65537"``, ``"3"`` or
    ``"huge"`` (about 3000 bits, the expensive kind)."""
    base = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    nums = base.private_numbers()
    p, q = nums.p, nums.q
    n, phi = p * q, (p - 1) * (q - 1)
    if exponent == "65537":
        return base
    if exponent == "3":
        return rsa.generate_private_key(public_exponent=3, key_size=bits)
    while True:
        e = secrets.randbits(n.bit_length() - 8) | 1
        if math.gcd(e, phi) == 1:
            break
    d = pow(e, -1, phi)
    return rsa.RSAPrivateNumbers(
        p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), rsa.RSAPublicNumbers(e, n),
    ).private_key()


def rsa_proof(key: rsa.RSAPrivateKey, now: float) -> str:
    jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    body = {"jti": secrets.token_urlsafe(12), "htm": "POST", "htu": LOGIN, "iat": int(now)}
    with warnings.catch_warnings():  # PyJWT warns about the short key the attacker chose
        warnings.simplefilter("ignore")
        return jwt.encode(body, key, algorithm="RS256", headers={"typ": "dpop+jwt", "jwk": jwk})


@pytest.mark.parametrize(("bits", "exponent"), [(3072, "huge"), (2048, "3"), (1024, "65537")])
async def test_a_proof_from_an_unreasonable_rsa_key_is_refused_before_verifying(
    make_target: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, bits: int, exponent: str
) -> None:
    verified: list[int] = []
    real = dpop._ALGORITHMS["RS256"].verify

    def counted(*args: Any) -> Any:
        verified.append(1)
        return real(*args)

    monkeypatch.setattr(dpop._ALGORITHMS["RS256"], "verify", counted)
    async with make_target(dpop_algs=["RS256", "ES256"]) as api:
        assert (await api.register()).status_code == 201
        r = await api.login("alice", PASSWORD, headers={"dpop": rsa_proof(rsa_key(bits, exponent), api.clock.now())})
        assert_refused(r, 401, "invalid_dpop_proof")
        assert verified == []


async def test_a_sane_rsa_key_still_works(make_target: Callable[..., Any]) -> None:
    async with make_target(dpop_algs=["RS256"]) as api:
        assert (await api.register()).status_code == 201
        r = await api.login("alice", PASSWORD, headers={"dpop": rsa_proof(rsa_key(2048, "65537"), api.clock.now())})
        assert r.status_code == 200, r.text


async def test_invalid_proofs_count_towards_the_address_throttle(make_target: Callable[..., Any]) -> None:
    async with make_target(login_ip_max_failures=3) as api:
        assert (await api.register()).status_code == 201
        wrong_url = DpopKey().proof("POST", "http://keyturn.test/auth/refresh", iat=api.clock.now())
        for _ in range(3):
            r = await api.login("alice", PASSWORD, headers={"dpop": wrong_url})
            assert_refused(r, 401, "invalid_dpop_proof")
        assert_refused(await api.login("alice", PASSWORD), 429, "rate_limited")
