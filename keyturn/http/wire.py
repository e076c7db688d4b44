"""The HTTP edge's vocabulary: reading requests defensively and rendering
answers and errors. The only place a ``KeyturnError`` becomes a status code.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from keyturn.clock import iso
from keyturn.core import credentials
from keyturn.errors import BadRequest, KeyturnError, PayloadTooLarge
from keyturn.http.deadline import receive_before
from keyturn.core.rendering import NO_STORE as NO_STORE, render
from keyturn.logs import CURRENT
from keyturn.service.tokens import TokenPair

REFRESH_COOKIE = "keyturn_refresh"
BODY_READ_TIMEOUT = 10.0
MAX_UA = 512


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


_JSON_TYPE = (b"content-type", b"application/json")
_NO_STORE_RAW = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in NO_STORE.items()]


class JSONBytes(Response):
    """Serialized JSON answered as it is, its header list built directly:
    the same headers, in the same order, as ``Response(body, status,
    headers, media_type="application/json")``, without the per-header
    re-encoding of the general constructor (the token answer is the hot path)."""

    media_type = "application/json"

    def __init__(self, body: bytes, status_code: int = 200, raw_headers: list[tuple[bytes, bytes]] | None = None) -> None:
        self.status_code = status_code
        self.background = None
        self.body = body
        self.raw_headers = [*(raw_headers or ()), (b"content-length", b"%d" % len(body)), _JSON_TYPE]


@functools.lru_cache(maxsize=256)
def _iso_second(whole: int) -> str:
    """``iso`` per whole second, remembered: answers given in the same second
    share their issue and expiry times, and formatting is a large part of
    building the token answer."""
    return iso(whole)


def token_body(pair: TokenPair) -> dict[str, Any]:
    return {
        "token_type": pair.token_type,
        "access_token": pair.access_token,
        "expires_in": int(pair.access_expires_at - int(pair.issued_at)),
        "access_token_expires_at": _iso_second(int(pair.access_expires_at)),
        "refresh_token": pair.refresh_token,
        "refresh_token_expires_in": max(0, int(pair.refresh_expires_at - pair.issued_at)),
        "refresh_token_expires_at": _iso_second(int(pair.refresh_expires_at)),
        "session_expires_at": _iso_second(int(pair.session_expires_at)),
        "issued_at": _iso_second(int(pair.issued_at)),
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
    return JSONBytes(orjson.dumps(body), 200, _NO_STORE_RAW)


def error_response(exc: KeyturnError, *, oauth: bool = False) -> Response:
    """The error answer (``keyturn.core.rendering.render``), noted for the access
    log line and the outcome metrics."""
    ctx = CURRENT.get()
    if ctx is not None:
        ctx.code = exc.code
    status, body, headers = render(exc, oauth=oauth)
    return JSONBytes(orjson.dumps(body), status, [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()])


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
    receive = request.receive  # the ASGI messages themselves: no generator per request
    deadline = asyncio.get_running_loop().time() + BODY_READ_TIMEOUT
    try:
        while True:
            message = await receive_before(receive, deadline)
            if message["type"] != "http.request":
                raise ClientDisconnect()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"the request body must be at most {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
    except TimeoutError:
        raise BadRequest("the request body took too long to arrive") from None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


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
    """``(scheme, token)`` of the request's ``Authorization`` header."""
    return credentials.access_token(request.headers.get("authorization"))


def user_agent(request: Request) -> str | None:
    """The header as text. ASGI hands header bytes over as ISO-8859-1, but
    clients send non-ASCII user agents in UTF-8: read them as UTF-8 when
    they are, so ``Édge`` is stored and listed as ``Édge``, not ``Ã\x89dge``."""
    ua = request.headers.get("user-agent")
    if not ua:
        return None
    try:
        ua = ua.encode("latin-1").decode("utf-8")
    except UnicodeError:
        pass  # not UTF-8: keep the ISO-8859-1 reading (RFC 9110 §5.5)
    return ua[:MAX_UA]
