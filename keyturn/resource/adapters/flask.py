"""Flask: ``@require_token(verifier, scopes=["read"])`` on a view; the claims
are then ``current_claims()`` (also ``flask.g.keyturn_claims``)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection
from typing import Any, TypeVar, cast

from flask import g, jsonify, request

from keyturn.core.tokens import AccessClaims
from keyturn.errors import KeyturnError
from keyturn.resource.adapters._common import challenge, check_scopes
from keyturn.resource.verifier import Verifier

F = TypeVar("F", bound=Callable[..., Any])


def require_token(
    verifier: Verifier, *, scopes: Collection[str] = (), roles: Collection[str] = ()
) -> Callable[[F], F]:
    """Every one of ``scopes`` and, when given, one of ``roles``."""
    needed, any_role = tuple(scopes), tuple(roles)

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            try:
                claims = verifier.verify_request(request.method, request.url, request.headers.items())
                check_scopes(claims, needed, any_role)
            except KeyturnError as exc:
                status, body, headers = challenge(exc)
                return jsonify(body), status, headers
            g.keyturn_claims = claims
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorator


def current_claims() -> AccessClaims:
    claims: AccessClaims = g.keyturn_claims
    return claims
