"""``GET /.well-known/oauth-authorization-server``: RFC 8414 authorization
server metadata, so a client or a resource server configures itself from
the issuer URL alone (RFC 8414 §3).

``issuer`` is ``KEYTURN_ISSUER`` — exactly the tokens' ``iss`` (RFC 8414
§3.3: a client compares the two). The endpoints are where clients reach
this service: ``KEYTURN_PUBLIC_URL``, or the request's own origin (with
forwarded headers only from trusted proxies) and mount path.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from keyturn.config import Settings
from keyturn.http.client_auth import AUTH_METHODS
from keyturn.http.origin import public_base
from keyturn.http.routes import runtime
from keyturn.http.wire import JSONResponse

PATH = "/.well-known/oauth-authorization-server"


def metadata(settings: Settings, base: str) -> dict[str, Any]:
    """The RFC 8414 §2 document for a service reachable at ``base``."""
    return {
        "issuer": settings.issuer,
        "token_endpoint": base + "/oauth/token",
        "jwks_uri": base + "/.well-known/jwks.json",
        "revocation_endpoint": base + "/oauth/revoke",
        "introspection_endpoint": base + "/oauth/introspect",
        # REQUIRED by RFC 8414 §2; keyturn has no authorization endpoint, so
        # there is no response type it supports.
        "response_types_supported": [],
        "grant_types_supported": ["refresh_token"],
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
        "dpop_signing_alg_values_supported": list(settings.dpop_algs),  # RFC 9449 §5.1
        "service_documentation": base + "/docs",
        # Not in any registry: keyturn's revocation feed for resource servers.
        "keyturn_revocation_feed_endpoint": base + "/auth/revocations",
    }


def base_url(request: Request) -> str:
    """Where this service's routes are, as its clients see them."""
    rt = runtime(request)
    scheme, host, prefix = public_base(request, rt)
    if not rt.settings.public_url:
        prefix = str(request.scope.get("root_path", "")).rstrip("/")  # mounted inside another app
    return f"{scheme}://{host}{prefix}"


async def authorization_server(request: Request) -> Response:
    return JSONResponse(
        metadata(runtime(request).settings, base_url(request)),
        headers={"cache-control": "public, max-age=300"},
    )
