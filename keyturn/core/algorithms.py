"""The JWS algorithm objects keyturn signs and verifies with: PyJWT's, plus
``Ed25519`` (RFC 9864, the fully-specified name of EdDSA on Ed25519).

PyJWT knows only the polymorphic ``EdDSA``; its OKP algorithm object does
the Ed25519 cryptography for both names. What ties ``Ed25519`` to the
Ed25519 curve (never Ed448) is each caller's key-type check: the DPoP
``jwk`` check in ``keyturn.core.dpop``, the JWKS reader in the Verifier,
and our own key generation.
"""

from __future__ import annotations

from jwt.algorithms import Algorithm, get_default_algorithms

ALGORITHMS: dict[str, Algorithm] = {**get_default_algorithms()}
ALGORITHMS["Ed25519"] = ALGORITHMS["EdDSA"]

# Both names of the one Ed25519 signature: a key made for either.
ED25519_NAMES = ("EdDSA", "Ed25519")
