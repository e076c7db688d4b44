"""A test-side DPoP client: a key pair and proofs for it (RFC 9449 §4.2)."""

from __future__ import annotations

import secrets
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from jwt.algorithms import get_default_algorithms

from keyturn.core.dpop import access_token_hash, jwk_thumbprint
from keyturn.core.refresh import b64encode
from tests.conftest import Api

_ALGS = get_default_algorithms()
BASE = "http://keyturn.test"  # the in-process test client's origin: what htu names


class DpopKey:
    def __init__(self, alg: str = "ES256") -> None:
        """``ES256``, ``EdDSA`` or ``Ed25519`` (RFC 9864: the same key and
        signature as EdDSA, under its fully-specified name)."""
        self.alg = alg
        self.private: Any = ec.generate_private_key(ec.SECP256R1()) if alg == "ES256" else ed25519.Ed25519PrivateKey.generate()
        self.jwk: dict[str, Any] = _ALGS["EdDSA" if alg == "Ed25519" else alg].to_jwk(self.private.public_key(), as_dict=True)
        self.jkt = jwk_thumbprint(self.jwk)

    def proof(
        self, method: str, url: str, *, iat: float, access_token: str | None = None,
        jti: str | None = None, header: dict[str, Any] | None = None, **claims: Any,
    ) -> str:
        body: dict[str, Any] = {"jti": jti or secrets.token_urlsafe(12), "htm": method, "htu": url, "iat": int(iat)}
        if access_token is not None:
            body["ath"] = access_token_hash(access_token)
        body.update(claims)
        head = {"typ": "dpop+jwt", "jwk": self.jwk, **(header or {})}
        if self.alg == "Ed25519":  # PyJWT does not know the name: sign it ourselves
            signing_input = f"{b64encode(orjson.dumps({'alg': 'Ed25519', **head}))}.{b64encode(orjson.dumps(body))}"
            return f"{signing_input}.{b64encode(self.private.sign(signing_input.encode()))}"
        return jwt.encode(body, self.private, algorithm=self.alg, headers=head)


async def dpop_login(api: Api, key: DpopKey) -> dict[str, Any]:
    """Register the test user and log in with a proof for ``key``: the
    token answer of a session bound to it."""
    await api.register()
    r = await api.login(headers={"dpop": key.proof("POST", f"{BASE}/auth/login", iat=api.clock.now())})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body
