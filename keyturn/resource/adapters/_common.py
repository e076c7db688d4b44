"""What every adapter shares: checking scopes, and the error answer in the
very shape the service gives (``keyturn.core.rendering.render``)."""

from __future__ import annotations

from collections.abc import Collection

from keyturn.core.tokens import AccessClaims
from keyturn.errors import InsufficientScope, KeyturnError
from keyturn.core.rendering import render


def check_scopes(claims: AccessClaims, required: Collection[str]) -> None:
    granted = set((claims.scope or "").split())
    if any(s not in granted for s in required):
        raise InsufficientScope(" ".join(required))


def challenge(exc: KeyturnError) -> tuple[int, dict[str, str], dict[str, str]]:
    """``(status, body, headers)`` for an error, as the service renders it."""
    return render(exc)
