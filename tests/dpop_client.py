"""A test-side DPoP client: a key pair and proofs for it (RFC 9449 §4.2)."""

from __future__ import annotations

import secrets
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from jwt.algorithms import get_default_algorithms

from keyturn.core.dpop import access_token_hash, jwk_thumbprint

_ALGS = get_default_algorithms()


class DpopKey:
    def __init__(self, alg: str = "ES256") -> None:
        self.alg = alg
        self.private: Any = ec.generate_private_key(ec.SECP256R1()) if alg == "ES256" else ed25519.Ed25519PrivateKey.generate()
        self.jwk: dict[str, Any] = _ALGS[alg].to_jwk(self.private.public_key(), as_dict=True)
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
        return jwt.encode(body, self.private, algorithm=self.alg, headers=head)
