"""What every adapter shares: reading the bearer token, checking scopes, and
the RFC 6750 §3 challenge in the same shape the service answers with."""

from __future__ import annotations

from collections.abc import Collection

from keyturn.core.tokens import AccessClaims
from keyturn.errors import BearerError, InsufficientScope, KeyturnError, MissingToken

REALM = "keyturn"


def bearer(header: str | None) -> str:
    """The token of ``Authorization: Bearer <token>`` (RFC 6750 §2.1 only)."""
    if not header:
        raise MissingToken()
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise MissingToken("the Authorization header must be 'Bearer <token>'")
    return token


def check_scopes(claims: AccessClaims, required: Collection[str]) -> None:
    granted = set((claims.scope or "").split())
    missing = [s for s in required if s not in granted]
    if missing:
        exc = InsufficientScope()
        exc.scope = " ".join(required)  # type: ignore[attr-defined]
        raise exc


def challenge(exc: KeyturnError) -> tuple[int, dict[str, str], dict[str, str]]:
    """``(status, body, headers)`` for an error, as the service renders it."""
    body = {"error": exc.error, "error_description": exc.description, "code": exc.code}
    headers = {"cache-control": "no-store"}
    if isinstance(exc, BearerError):
        desc = exc.description.replace("\\", "").replace('"', "'")
        value = f'Bearer realm="{REALM}", error="{exc.error}", error_description="{desc}"'
        scope = getattr(exc, "scope", None)
        if scope:
            value += f', scope="{scope}"'
        headers["www-authenticate"] = value
    return exc.status, body, headers
