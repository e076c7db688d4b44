"""What every adapter shares: checking scopes, and the error answer in the
very shape the service gives (``keyturn.core.rendering.render``)."""

from __future__ import annotations

from collections.abc import Collection

from keyturn.core.tokens import AccessClaims
from keyturn.errors import InsufficientScope, KeyturnError
from keyturn.core.rendering import render


def check_scopes(claims: AccessClaims, required: Collection[str], roles: Collection[str] = ()) -> None:
    """Every scope in ``required`` must be in the token's ``scope``
    (RFC 9068 §2.2.3); with ``roles``, at least one of them must be in its
    ``roles`` claim (``keyturn users set NAME --claims '{"roles": [...]}'``).
    Either failure is 403 ``insufficient_scope`` (RFC 6750 §3.1)."""
    granted = claims.scopes
    if any(s not in granted for s in required):
        raise InsufficientScope(" ".join(required))
    if roles and not set(roles) & set(claims.roles):
        raise InsufficientScope(" ".join(required), f"the access token lacks a required role (one of: {', '.join(roles)})")


def challenge(exc: KeyturnError) -> tuple[int, dict[str, str], dict[str, str]]:
    """``(status, body, headers)`` for an error, as the service renders it."""
    return render(exc)
