"""Starlette: ``Middleware(AuthenticationMiddleware, ...)`` built by
``keyturn_middleware(verifier)``. ``request.user`` is a ``KeyturnUser``
(claims inside), ``request.auth.scopes`` the token's scopes, so Starlette's
own ``@requires("read")`` works. With ``required=True`` a request without a
token is refused too; otherwise it passes as anonymous."""

from __future__ import annotations

from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    BaseUser,
)
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from keyturn.core.tokens import AccessClaims
from keyturn.errors import KeyturnError
from keyturn.resource.adapters._common import challenge
from keyturn.resource.metadata import WELL_KNOWN, protected_resource_metadata
from keyturn.resource.verifier import Verifier


class KeyturnUser(BaseUser):
    def __init__(self, claims: AccessClaims) -> None:
        self.claims = claims

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.claims.sub

    @property
    def identity(self) -> str:
        return self.claims.sub


class _Failed(AuthenticationError):
    def __init__(self, exc: KeyturnError) -> None:
        super().__init__(exc.code)
        self.error = exc


class KeyturnBackend(AuthenticationBackend):
    def __init__(self, verifier: Verifier, *, required: bool = False) -> None:
        self.verifier = verifier
        self.required = required

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        header = conn.headers.get("authorization")
        if header is None and not self.required:
            return None
        try:
            method = str(conn.scope.get("method", "GET"))
            claims = await self.verifier.verify_request_async(method, str(conn.url), conn.headers.items())
        except KeyturnError as exc:
            raise _Failed(exc) from None
        return AuthCredentials(["authenticated", *(claims.scope or "").split()]), KeyturnUser(claims)


def on_error(conn: HTTPConnection, exc: AuthenticationError) -> Response:
    error = exc.error if isinstance(exc, _Failed) else KeyturnError()
    status, body, headers = challenge(error)
    return JSONResponse(body, status_code=status, headers=headers)


def keyturn_middleware(verifier: Verifier, *, required: bool = False) -> Middleware:
    return Middleware(AuthenticationMiddleware, backend=KeyturnBackend(verifier, required=required), on_error=on_error)


def protected_resource_route(verifier: Verifier, resource: str, *, scopes_supported: tuple[str, ...] = ()) -> Route:
    """``GET /.well-known/oauth-protected-resource`` (RFC 9728 §3), from the
    Verifier's own issuer and DPoP algorithms (FastAPI: ``app.routes.append``)."""
    document = protected_resource_metadata(
        resource, verifier.issuer, dpop_algorithms=verifier.dpop.algorithms, scopes_supported=scopes_supported,
    )

    async def endpoint(request: Request) -> Response:
        return JSONResponse(document, headers={"cache-control": "public, max-age=300"})

    return Route(WELL_KNOWN, endpoint, methods=["GET"])
