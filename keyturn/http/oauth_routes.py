"""``POST /oauth/revoke`` (RFC 7009) and ``POST /oauth/introspect``
(RFC 7662, authenticated resource servers only)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from keyturn.errors import BadRequest, KeyturnError
from keyturn.http.routes import client_ip, runtime
from keyturn.http.wire import NO_STORE, JSONResponse, error_response, read_form
from keyturn.http.client_auth import authenticate_token_client
from keyturn.service.resource_clients import authenticate_resource_server


def _token(form: dict[str, str]) -> str:
    token = form.get("token")
    if not token:
        raise BadRequest("token is required")
    return token


async def revoke(request: Request) -> Response:
    """Revoke a refresh or access token (RFC 7009); 200 even for unknown tokens."""
    rt = runtime(request)
    try:
        form = await read_form(request, rt.settings.max_body_bytes)
        await authenticate_token_client(request, rt, form)  # RFC 7009 §2.1
        await rt.service.revoke_token(_token(form), form.get("token_type_hint"), ip=client_ip(request))
    except KeyturnError as exc:
        return error_response(exc, oauth=True)
    return Response(status_code=200, headers=NO_STORE)


async def introspect(request: Request) -> Response:
    """Introspect a token (RFC 7662) for an authenticated resource server."""
    rt = runtime(request)
    try:
        # Authenticate the caller before reading anything about the token.
        await authenticate_resource_server(rt.settings, rt.stores.clients, request.headers.get("authorization"))
        form = await read_form(request, rt.settings.max_body_bytes)
        answer = await rt.service.introspect_token(_token(form), form.get("token_type_hint"))
    except KeyturnError as exc:
        return error_response(exc, oauth=True)
    return JSONResponse(answer, headers=NO_STORE)
