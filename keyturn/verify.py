"""``from keyturn.verify import Verifier``: the documented path; the code
lives in ``keyturn.resource.verifier``."""

from __future__ import annotations

from keyturn.resource.verifier import (
    AccessClaims,
    RevocationFeedUnavailable,
    TokenExpired,
    TokenInvalid,
    TokenRevoked,
    Verifier,
    keys_from_jwks,
)

__all__ = [
    "AccessClaims", "RevocationFeedUnavailable", "TokenExpired", "TokenInvalid", "TokenRevoked", "Verifier",
    "keys_from_jwks",
]
