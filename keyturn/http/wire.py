"""The HTTP edge's vocabulary: reading requests defensively and rendering
answers and errors. The only place a ``KeyturnError`` becomes a status code.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.responses import Response

from keyturn.clock import iso
from keyturn.errors import (
    BadRequest,
    BearerError,
    InvalidClient,
    InvalidDpopProof,
    KeyturnError,
    MissingToken,
    PayloadTooLarge,
    RateLimited,
    RefreshError,
)
from keyturn.logs import CURRENT
from keyturn.service.tokens import TokenPair

NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}
REFRESH_COOKIE = "keyturn_refresh"
BODY_READ_TIMEOUT = 10.0
MAX_UA = 512


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def token_body(pair: TokenPair) -> dict[str, Any]:
    return {
        "token_type": pair.token_type,
        "access_token": pair.access_token,
        "expires_in": int(pair.access_expires_at - int(pair.issued_at)),
        "access_token_expires_at": iso(pair.access_expires_at),
        "refresh_token": pair.refresh_token,
        "refresh_token_expires_in": max(0, int(pair.refresh_expires_at - pair.issued_at)),
        "refresh_token_expires_at": iso(pair.refresh_expires_at),
        "session_expires_at": iso(pair.session_expires_at),
        "issued_at": iso(pair.issued_at),
        "session_id": pair.session_id,
    }


def token_response(pair: TokenPair, *, include_refresh: bool = True) -> Response:
    """The token answer; without the refresh token when it travels in the
    HttpOnly cookie instead (page script must never see it)."""
    ctx = CURRENT.get()
    if ctx is not None:
        ctx.grace = pair.grace  # for the refresh-outcome metric
    body = token_body(pair)
    if not include_refresh:
        del body["refresh_token"]
    return Response(orjson.dumps(body), 200, headers=NO_STORE, media_type="application/json")


def error_response(exc: KeyturnError, *, oauth: bool = False) -> Response:
    """RFC 6749 §5.2 / RFC 6750 §3 shape plus our stable ``code``.

    On ``/oauth/token`` every refresh failure is 400 ``invalid_grant``
    (RFC 6749 §5.2); elsewhere the class decides the status.
    """
    status = exc.status
    error = exc.error
    ctx = CURRENT.get()
    if ctx is not None:
        ctx.code = exc.code  # for the access log line and the outcome metrics
    if oauth and isinstance(exc, (RefreshError, InvalidDpopProof)):
        status = 400
    body = {"error": error, "error_description": exc.description, "code": exc.code}
    headers = dict(NO_STORE)
    if isinstance(exc, RateLimited):
        headers["retry-after"] = str(exc.retry_after)
    if isinstance(exc, BearerError):
        desc = exc.description.replace("\\", "").replace('"', "'")
        headers["www-authenticate"] = f'Bearer realm="keyturn", error="invalid_token", error_description="{desc}"'
    if isinstance(exc, InvalidDpopProof):
        desc = exc.description.replace("\\", "").replace('"', "'")
        headers["www-authenticate"] = f'DPoP realm="keyturn", error="invalid_dpop_proof", error_description="{desc}"'
    if isinstance(exc, InvalidClient):
        headers["www-authenticate"] = 'Basic realm="keyturn"'
    return Response(orjson.dumps(body), status, headers=headers, media_type="application/json")


async def read_body(request: Request, limit: int) -> bytes:
    """The body, capped in size and time (no hang on a slow or huge body)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadRequest("invalid Content-Length")
        if int(declared) > limit:
            raise PayloadTooLarge(f"the request body must be at most {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(BODY_READ_TIMEOUT):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"the request body must be at most {limit} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise BadRequest("the request body took too long to arrive") from None
    return b"".join(chunks)


async def read_json(request: Request, limit: int, *, optional: bool = False) -> dict[str, Any]:
    body = await read_body(request, limit)
    if not body.strip():
        if optional:
            return {}
        raise BadRequest("a JSON object body is required")
    ctype = request.headers.get("content-type", "application/json").split(";", 1)[0].strip().lower()
    if ctype and ctype != "application/json" and not ctype.endswith("+json"):
        raise BadRequest("the body must be application/json")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadRequest("the body is not valid JSON (UTF-8)") from None
    if not isinstance(value, dict):
        raise BadRequest("the body must be a JSON object")
    return value


async def read_form(request: Request, limit: int) -> dict[str, str]:
    """``application/x-www-form-urlencoded`` (RFC 6749 §4.1.3 / §6); a
    repeated parameter is an error (RFC 6749 §3.1)."""
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise BadRequest("the body must be application/x-www-form-urlencoded")
    body = await read_body(request, limit)
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("the form body is malformed") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        if key in form:
            raise BadRequest(f"parameter {key!r} is repeated")
        form[key] = value
    return form


def access_token(request: Request) -> tuple[str, str]:
    """``(scheme, token)`` of ``Authorization: Bearer …`` or ``DPoP …``
    (RFC 9449 §7.1); the scheme lower-cased."""
    header = request.headers.get("authorization")
    if not header:
        raise MissingToken()
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() not in ("bearer", "dpop") or not token:
        raise MissingToken("the Authorization header must be 'Bearer <token>'")
    return scheme.lower(), token


def user_agent(request: Request) -> str | None:
    ua = request.headers.get("user-agent")
    return ua[:MAX_UA] if ua else None
