"""``/docs``: Swagger UI on the OpenAPI document, from assets shipped in a
Python package (``swagger-ui-bundle``), so the page loads no third-party
script onto the origin that carries the refresh cookie, and works offline.
The Content-Security-Policy allows only ``'self'``: no inline script."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from keyturn.errors import NotFound

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "font-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}
# name -> (content type, from the bundle?)
ASSETS = {
    "swagger-ui-bundle.js": ("text/javascript; charset=utf-8", True),
    "swagger-ui.css": ("text/css; charset=utf-8", True),
    "favicon-32x32.png": ("image/png", True),
    "docs.js": ("text/javascript; charset=utf-8", False),
}


def _ours(name: str) -> bytes:
    return resources.files("keyturn.http").joinpath("static", name).read_bytes()


def _bundled(name: str) -> bytes:
    import swagger_ui_bundle

    return (Path(swagger_ui_bundle.swagger_ui_path) / name).read_bytes()


class DocsPage:
    """The page and its assets, read on first use and kept."""

    def __init__(self) -> None:
        self._cache: dict[str, bytes] = {}

    def _read(self, name: str) -> bytes:
        body = self._cache.get(name)
        if body is None:
            body = _bundled(name) if ASSETS[name][1] else _ours(name)
            self._cache[name] = body
        return body

    async def page(self, request: Request) -> Response:
        html = self._cache.get("docs.html") or self._cache.setdefault("docs.html", _ours("docs.html"))
        return Response(html, headers={**HEADERS, "cache-control": "no-cache"}, media_type="text/html; charset=utf-8")

    async def asset(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ASSETS:
            raise NotFound()
        return Response(self._read(name), headers={**HEADERS, "cache-control": "public, max-age=3600",
                                                   "content-type": ASSETS[name][0]})
