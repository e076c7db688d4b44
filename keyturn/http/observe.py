"""The observing edge: request ids, one access log line per request, and the
Prometheus counters and latency histograms — in one pure ASGI middleware
(no ``BaseHTTPMiddleware``: no extra task or body copy on the hot path).

Latency is labelled by the route *template* (``/auth/sessions/{session_id}``),
never the raw path, so label cardinality stays bounded whatever clients send.
"""

from __future__ import annotations

import hmac
import logging
import random
import re
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keyturn.core.credentials import access_token
from keyturn.errors import MissingToken, TokenInvalid
from keyturn.http.deadline import departure
from keyturn.http.metrics import CONTENT_TYPE, Metrics
from keyturn.logs import CURRENT, RequestContext

__all__ = ["Metrics", "ObserveMiddleware", "install", "metrics_endpoint"]
from keyturn.service.wiring import Runtime

access_log = logging.getLogger("keyturn.access")

# An incoming X-Request-ID is kept only if it is short and plain, so a client
# cannot inject log structure (or paste a token) through it.
_SANE_ID = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
UNMATCHED = "<unmatched>"


def new_request_id() -> str:
    """16 hex digits. An id names a request in the logs and is no secret, so
    the process's random generator serves (no system call per request)."""
    return "%016x" % random.getrandbits(64)


class ObserveMiddleware:
    def __init__(self, app: ASGIApp, *, runtime: Runtime, metrics: Metrics) -> None:
        self.app = app
        self.runtime = runtime
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        rid: str | None = None
        xff: list[str] = []
        for name, value in scope["headers"]:
            if name == b"x-request-id" and _SANE_ID.fullmatch(value):
                rid = value.decode("ascii")
            elif name == b"x-forwarded-for":
                xff.append(value.decode("latin-1"))
        client = scope.get("client")
        peer = client[0] if client else None
        ip = self.runtime.proxies.client_ip(peer, xff)
        ctx = RequestContext(rid or new_request_id(), ip=ip, peer=peer if peer != ip else None)
        # A refresh's answer is due within two store calls; after that, or
        # once the connection is closed, its client has gone.
        ctx.gone = departure(receive, time.monotonic() + 2 * self.runtime.settings.store_timeout)
        token = CURRENT.set(ctx)
        status = 500
        rid_header = (b"x-request-id", ctx.request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), rid_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED
            method = scope["method"]
            self.metrics.observe_request(template, method, status, elapsed, ctx.code, ctx.grace)
            if access_log.isEnabledFor(logging.INFO):
                path = scope["path"]
                access_log.info(
                    "%s %s %d %.1fms", method, path[:200], status, elapsed * 1000,
                    extra={"fields": {
                        "route": template, "status": status, "duration_ms": round(elapsed * 1000, 2),
                        "ip": ip, "code": ctx.code,
                    }},
                )
            CURRENT.reset(token)


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus exposition. With ``KEYTURN_METRICS_TOKEN`` set, only for
    ``Authorization: Bearer <that token>``."""
    runtime: Runtime = request.app.state.runtime
    expected = runtime.settings.metrics_token
    if expected:
        try:
            scheme, secret = access_token(request.headers.get("authorization"))
        except MissingToken:
            scheme, secret = "", ""
        # Constant time: the comparison must not reveal how much matched.
        if scheme != "bearer" or not hmac.compare_digest(secret.encode(), expected.encode()):
            raise TokenInvalid("a valid metrics bearer token is required")
    metrics: Metrics = request.app.state.metrics
    return Response(metrics.render(), headers={"cache-control": "no-store", "content-type": CONTENT_TYPE})
