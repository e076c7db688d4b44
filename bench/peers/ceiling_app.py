"""Framework ceiling: a bare Starlette route under uvicorn (uvloop, httptools)
answering a constant token-shaped JSON body.  No crypto, no store: whatever a
refresh costs above this is the token service's own work."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

BODY = (b'{"access_token":"' + b"a" * 300 + b'","token_type":"Bearer","expires_in":1800,'
        b'"refresh_token":"krt_' + b"r" * 60 + b'"}')


async def const(request: Request) -> Response:
    await request.body()
    return Response(BODY, media_type="application/json")


async def healthz(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


app = Starlette(routes=[Route("/healthz", healthz), Route("/login", const, methods=["POST"]),
                        Route("/refresh", const, methods=["POST"])])
