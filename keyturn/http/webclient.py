"""``/keyturn.js``: the browser client (clients/web/), served by keyturn so a
page can ``import { Keyturn } from "/keyturn.js"`` with no build step, and
``/keyturn.d.ts``, its type declarations. See docs/web.md.

The module is built from clients/web/src and committed into package data
(``pip install`` users have no node); a test rebuilds it and compares, so
the two cannot drift. Served ``no-cache`` with an ETag: a browser always
revalidates, so an upgraded keyturn never runs with a stale client.
"""

from __future__ import annotations

import hashlib
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response

PATHS = {
    "/keyturn.js": ("keyturn.js", "text/javascript; charset=utf-8"),
    "/keyturn.d.ts": ("keyturn.d.ts", "application/typescript; charset=utf-8"),
}


class ClientModule:
    """The module and its declarations, read once at start."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str, str]] = {}
        for path, (name, media_type) in PATHS.items():
            body = resources.files("keyturn.http").joinpath("static", name).read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            self.files[path] = (body, media_type, etag)

    async def serve(self, request: Request) -> Response:
        body, media_type, etag = self.files[request.url.path]
        headers = {"etag": etag, "cache-control": "no-cache", "x-content-type-options": "nosniff"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(body, headers={**headers, "content-type": media_type})
