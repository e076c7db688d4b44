"""FastAPI: ``claims: AccessClaims = Depends(require_user(verifier, scopes=["read"]))``
(``roles=["admin"]`` checks the token's ``roles`` claim).

Failures raise ``KeyturnHTTPException`` (an ``HTTPException``); call
``install(app)`` so it renders like the service — ``{"error",
"error_description", "code"}`` at top level — instead of FastAPI's
``{"detail": ...}`` (``TokenAuth`` understands both).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from keyturn.core.tokens import AccessClaims
from keyturn.errors import KeyturnError
from keyturn.resource.adapters._common import challenge, check_scopes
from keyturn.resource.verifier import Verifier


class KeyturnHTTPException(HTTPException):
    def __init__(self, exc: KeyturnError) -> None:
        status, body, headers = challenge(exc)
        super().__init__(status, detail=body, headers=headers)
        self.body = body


def require_user(
    verifier: Verifier, *, scopes: Collection[str] = (), roles: Collection[str] = ()
) -> Callable[[Request], Awaitable[AccessClaims]]:
    """A dependency returning the verified claims (401/403 otherwise): every
    one of ``scopes``, and one of ``roles`` when given."""
    needed, any_role = tuple(scopes), tuple(roles)

    async def dependency(request: Request) -> AccessClaims:
        try:
            claims = await verifier.verify_request_async(request.method, str(request.url), request.headers.items())
            check_scopes(claims, needed, any_role)
        except KeyturnError as exc:
            raise KeyturnHTTPException(exc) from None
        return claims

    return dependency


def install(app: FastAPI) -> None:
    """Render keyturn's 401/403/503 with the service's body shape."""

    async def handler(request: Request, exc: Any) -> Response:
        assert isinstance(exc, KeyturnHTTPException)
        return JSONResponse(exc.body, status_code=exc.status_code, headers=exc.headers)

    app.add_exception_handler(KeyturnHTTPException, handler)
