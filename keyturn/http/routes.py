"""The HTTP contract of docs/http-api.md: parse → service → render.

Handlers are plain Starlette endpoints (no per-request validation machinery
on the hot paths); the OpenAPI document describes the same table.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from keyturn.clock import iso
from keyturn.core.tokens import AccessClaims
from keyturn.errors import (
    BadRequest,
    KeyturnError,
    MissingRefreshToken,
    StoreUnavailable,
    TokenInvalid,
    UnsupportedGrantType,
)
from keyturn.http.account import check_cookie_csrf, wants_cookie
from keyturn.http.client_auth import authenticate_token_client
from keyturn.http.wire import (
    NO_STORE,
    REFRESH_COOKIE,
    JSONResponse,
    access_token,
    error_response,
    read_form,
    read_json,
    token_response,
    user_agent,
)
from keyturn.http.origin import is_https, public_url
from keyturn.logs import CURRENT
from keyturn.service.guards import DpopRequest
from keyturn.service.tokens import TokenPair
from keyturn.service.wiring import Runtime


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def client_ip(request: Request) -> str | None:
    """The client's address, as the observing middleware worked it out."""
    ctx = CURRENT.get()
    if ctx is not None:
        return ctx.ip
    peer = request.client.host if request.client else None
    return runtime(request).proxies.client_ip(peer, request.headers.getlist("x-forwarded-for"))


def dpop_request(request: Request) -> DpopRequest | None:
    """The request's DPoP proof (RFC 9449 §4.1), if any, with what it must match."""
    proof = request.headers.get("dpop")
    return DpopRequest(proof, request.method, public_url(request, runtime(request))) if proof else None


def _string_field(body: dict[str, Any], name: str) -> Any:
    value = body.get(name)
    if value is None:
        raise BadRequest(f"{name!r} is required")
    return value


async def register(request: Request) -> Response:
    rt = runtime(request)
    body = await read_json(request, rt.settings.max_body_bytes)
    user = await rt.service.register(
        _string_field(body, "username"), _string_field(body, "password"), ip=client_ip(request),
    )
    return JSONResponse({"user_id": user.id}, status_code=201)


async def login(request: Request) -> Response:
    rt = runtime(request)
    body = await read_json(request, rt.settings.max_body_bytes)
    if wants_cookie(request):
        check_cookie_csrf(request)  # no login CSRF into someone else's account
    pair = await rt.service.login(
        _string_field(body, "username"), _string_field(body, "password"),
        ip=client_ip(request), user_agent=user_agent(request), dpop=dpop_request(request),
    )
    if wants_cookie(request):
        # The /account page: refresh token in the HttpOnly cookie only.
        return _with_cookie(token_response(pair, include_refresh=False), request, pair)
    return token_response(pair)


def _header_token(request: Request) -> str | None:
    raw = request.headers.get("refresh")
    if raw is None:
        return None
    scheme, _, rest = raw.strip().partition(" ")
    if scheme.lower() == "bearer":
        return rest.strip() or None
    return raw.strip() or None


def _with_cookie(response: Response, request: Request, pair: TokenPair) -> Response:
    secure = runtime(request).settings.cookie_secure
    response.set_cookie(
        REFRESH_COOKIE, pair.refresh_token,
        max_age=max(0, int(pair.refresh_expires_at - pair.issued_at)),
        path="/auth", httponly=True, samesite="strict",
        secure=secure == "always" or (secure == "auto" and is_https(request, runtime(request))),
    )
    return response


async def refresh(request: Request) -> Response:
    """Refresh token from JSON ``{"refresh_token"}``, the ``Refresh`` header
    (raw, ``Bearer `` tolerated) or the ``keyturn_refresh`` cookie."""
    rt = runtime(request)
    body = await read_json(request, rt.settings.max_body_bytes, optional=True)
    from_cookie = False
    token: Any = body.get("refresh_token")
    if token is None:
        token = _header_token(request)
    if token is None:
        token = request.cookies.get(REFRESH_COOKIE) or None
        from_cookie = token is not None
    if token is None or token == "":
        raise MissingRefreshToken()
    if not isinstance(token, str):
        raise BadRequest("'refresh_token' must be a string")
    if from_cookie:
        check_cookie_csrf(request)  # the cookie is ambient: prove the call is ours
    pair = await rt.service.refresh(
        token, ip=client_ip(request), user_agent=user_agent(request), dpop=dpop_request(request)
    )
    if from_cookie:
        return _with_cookie(token_response(pair, include_refresh=False), request, pair)
    return token_response(pair)


async def reissue(request: Request) -> Response:
    """The seed's ``PATCH /reissue``: the refresh token in the ``Refresh`` header."""
    token = _header_token(request)
    if token is None:
        raise MissingRefreshToken("the Refresh header is required")
    pair = await runtime(request).service.refresh(
        token, ip=client_ip(request), user_agent=user_agent(request), dpop=dpop_request(request)
    )
    return token_response(pair)


async def oauth_token(request: Request) -> Response:
    """RFC 6749 §6 refresh grant; §5.1 answers and §5.2 errors."""
    rt = runtime(request)
    try:
        form = await read_form(request, rt.settings.max_body_bytes)
        await authenticate_token_client(request, rt, form)  # presented credentials are checked
        grant = form.get("grant_type")
        if not grant:
            raise BadRequest("grant_type is required")
        if grant != "refresh_token":
            raise UnsupportedGrantType()
        token = form.get("refresh_token")
        if not token:
            raise MissingRefreshToken("refresh_token is required")
        pair = await rt.service.refresh(
            token, ip=client_ip(request), user_agent=user_agent(request), dpop=dpop_request(request)
        )
    except KeyturnError as exc:
        return error_response(exc, oauth=True)
    return token_response(pair)


async def _authenticated(request: Request) -> AccessClaims:
    scheme, token = access_token(request)
    return await runtime(request).service.check_access(token, scheme=scheme, dpop=dpop_request(request))


async def logout(request: Request) -> Response:
    claims = await _authenticated(request)
    await runtime(request).service.logout(claims, ip=client_ip(request))
    return _no_content(clear_cookie=True)


async def logout_all(request: Request) -> Response:
    claims = await _authenticated(request)
    await runtime(request).service.logout_all(claims, ip=client_ip(request))
    return _no_content(clear_cookie=True)


async def logout_others(request: Request) -> Response:
    claims = await _authenticated(request)
    await runtime(request).service.logout_others(claims, ip=client_ip(request))
    return _no_content()


async def change_password(request: Request) -> Response:
    rt = runtime(request)
    claims = await _authenticated(request)
    body = await read_json(request, rt.settings.max_body_bytes)
    await rt.service.change_password(
        claims, _string_field(body, "current_password"), _string_field(body, "new_password"),
        ip=client_ip(request),
    )
    return _no_content()


def _no_content(clear_cookie: bool = False) -> Response:
    response = Response(status_code=204, headers=NO_STORE)
    if clear_cookie:
        response.delete_cookie(REFRESH_COOKIE, path="/auth", httponly=True, samesite="strict")
    return response


async def me(request: Request) -> Response:
    rt = runtime(request)
    claims = await _authenticated(request)
    user = await rt.stores.users.user_by_id(claims.sub)
    if user is None:
        raise TokenInvalid()  # pragma: no cover - a live session implies its user
    return JSONResponse({"user_id": user.id, "username": user.username, "session_id": claims.sid}, headers=NO_STORE)


async def sessions(request: Request) -> Response:
    rt = runtime(request)
    claims = await _authenticated(request)
    found = await rt.service.list_sessions(claims.sub)
    return JSONResponse(
        {
            "sessions": [
                {
                    "id": s.id,
                    "created_at": iso(s.created_at),
                    "last_used_at": iso(s.last_used_at),
                    "ip": s.last_ip or s.login_ip,
                    "user_agent": s.last_user_agent or s.user_agent,
                    "current": s.id == claims.sid,
                }
                for s in found
            ]
        },
        headers=NO_STORE,
    )


async def delete_session(request: Request) -> Response:
    claims = await _authenticated(request)
    await runtime(request).service.revoke_own_session(claims, request.path_params["session_id"])
    return _no_content()


async def jwks(request: Request) -> Response:
    return Response(
        runtime(request).keys.jwks_json,
        headers={"cache-control": "public, max-age=60"},
        media_type="application/jwk-set+json",
    )


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Probe every store at once, each within a probe timeout shorter than
    the store timeout, so a stalled store makes /readyz answer in time; a
    failing one is named (store, masked URL, reason) for the operator."""
    import logging

    from keyturn.stores.explain import explain

    log = logging.getLogger("keyturn")
    rt = runtime(request)
    probe = rt.settings.store_timeout / 2
    # Each engine once: sessions on the database are answered by its probe.
    stores = {"database": (rt.stores.database, rt.settings.database_url)}
    if rt.stores.session_engine is not None:
        stores["sessions"] = (rt.stores.session_engine, rt.settings.sessions_url)
    detail: dict[str, str] = {}

    async def check(name: str, store: Any, url: str) -> str:
        try:
            async with asyncio.timeout(probe):
                await store.ping()
            return "ok"
        except (StoreUnavailable, TimeoutError) as exc:
            # Which store, its masked URL and the driver's reason: for the operator.
            detail[name] = explain("database" if name == "database" else "session store", url, exc)
            log.warning("readyz: %s", detail[name])
            return "unavailable"

    results = await asyncio.gather(*(check(name, store, url) for name, (store, url) in stores.items()))
    status = dict(zip(stores, results, strict=True))
    status.setdefault("sessions", status["database"])
    # A clock too far from a store's (keyturn.service.clocks): not ready either.
    skewed = rt.clocks.problems() if rt.clocks is not None else {}
    detail.update({f"{role} clock": line for role, line in skewed.items()})
    ready = all(v == "ok" for v in status.values()) and not skewed
    body: dict[str, object] = {"status": "ready" if ready else "unavailable", "stores": status}
    if detail:
        body["detail"] = detail
    return JSONResponse(body, status_code=200 if ready else 503)

