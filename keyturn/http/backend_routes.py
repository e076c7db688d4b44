"""``POST /backend/sessions`` and ``POST /backend/sessions/revoke``: an app
that authenticates its users itself asks keyturn for their sessions
(docs/adopt.md). The caller is a client registered with the scope
``sessions:issue`` (``keyturn clients add NAME --scope sessions:issue``),
authenticated with HTTP Basic; resource-server clients may not."""

from __future__ import annotations

import ipaddress
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from keyturn.errors import BadRequest, InvalidClient, UnauthorizedClient
from keyturn.http.revocations import resource_client
from keyturn.http.routes import client_ip, dpop_request, runtime
from keyturn.http.wire import MAX_UA, NO_STORE, JSONResponse, read_json, token_response, user_agent
from keyturn.service.resource_clients import authenticate_basic
from keyturn.stores.protocols import ResourceClient

ISSUE = "sessions:issue"
_ISSUE_FIELDS = frozenset({"subject", "claims", "scope", "ip", "user_agent"})


async def _backend(request: Request) -> ResourceClient:
    """The calling backend client, checked before the body is read. A
    resource server (``KEYTURN_RESOURCE_CLIENTS``, or registered without
    ``sessions:issue``) is known but not allowed: 403."""
    rt = runtime(request)
    try:
        client = await authenticate_basic(rt.stores.clients, request.headers.get("authorization"))
    except InvalidClient:
        resource_client(request, rt.settings)  # InvalidClient again when it is not one either
        raise UnauthorizedClient() from None
    if not client.allows(ISSUE):
        raise UnauthorizedClient()
    return client


def _body_fields(body: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadRequest(f"{unknown[0]!r} is not a field of this request (fields: {', '.join(sorted(allowed))})")
    if "subject" not in body:
        raise BadRequest("subject is required")


def _end_user(body: dict[str, Any], request: Request) -> tuple[str | None, str | None]:
    """The end user's address and user agent as the backend saw them (what
    binding compares the user's own refreshes with); default: this request's."""
    ip, ua = body.get("ip"), body.get("user_agent")
    if ip is not None:
        try:
            ip = str(ipaddress.ip_address(ip if isinstance(ip, str) else ""))
        except ValueError:
            raise BadRequest("ip must be an IPv4 or IPv6 address") from None
    if ua is not None and not isinstance(ua, str):
        raise BadRequest("user_agent must be a string")
    if ip is None:
        ip = client_ip(request)
    ua = user_agent(request) if ua is None else (ua[:MAX_UA] or None)
    return ip, ua


async def issue(request: Request) -> Response:
    """Open a session for a subject your backend authenticated."""
    rt = runtime(request)
    client = await _backend(request)
    body = await read_json(request, rt.settings.max_body_bytes)
    _body_fields(body, _ISSUE_FIELDS)
    ip, ua = _end_user(body, request)
    pair = await rt.service.issue_session(
        body["subject"], claims=body.get("claims"), scope=body.get("scope"), ip=ip, user_agent=ua,
        client_id=client.id, dpop=dpop_request(request),
    )
    return token_response(pair)


async def revoke(request: Request) -> Response:
    """End every session of a subject, access tokens included."""
    rt = runtime(request)
    client = await _backend(request)
    body = await read_json(request, rt.settings.max_body_bytes)
    _body_fields(body, frozenset({"subject"}))
    ended = await rt.service.revoke_subject(body["subject"], client_id=client.id)
    return JSONResponse({"sessions_ended": len(ended)}, headers=NO_STORE)
