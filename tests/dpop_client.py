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

_ALGS = get_default_algorithms()


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
