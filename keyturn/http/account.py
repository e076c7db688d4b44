"""``/account``: the page where people see and end their own sessions.

The page is static HTML + one script + one stylesheet from package data
(no build step, no inline script, so the Content-Security-Policy can forbid
inline code entirely). It uses keyturn's own API: the refresh token lives in
an HttpOnly, SameSite=Strict cookie scoped to ``/auth``; the access token
only in the script's memory.

CSRF: the cookie is the only ambient credential, so every call that relies
on it (cookie login, cookie refresh) must carry ``X-Keyturn-Cookie: 1`` — a
custom header a cross-origin page can only send after a CORS preflight,
which keyturn never grants — and, when the browser says where the call
comes from (``Origin``, ``Sec-Fetch-Site``), it must be this origin.
Bearer calls need no such check: browsers never attach a bearer by
themselves.
"""

from __future__ import annotations

from importlib import resources
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from keyturn.errors import CsrfRejected, NotFound

COOKIE_HEADER = "x-keyturn-cookie"

# No inline script or style, no third party, no framing, no plugins.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
_TYPES = {
    "account.js": "text/javascript; charset=utf-8",
    "account.css": "text/css; charset=utf-8",
    # The page names it as its icon, so browsers do not ask for /favicon.ico.
    "icon.svg": "image/svg+xml",
}


def _asset(name: str) -> bytes:
    return resources.files("keyturn.http").joinpath("static", name).read_bytes()


def wants_cookie(request: Request) -> bool:
    """The caller asks for the refresh token in the cookie (the page does)."""
    return request.headers.get(COOKIE_HEADER) == "1"


def check_cookie_csrf(request: Request) -> None:
    """Raise ``CsrfRejected`` unless a cookie-relying call is provably ours."""
    if not wants_cookie(request):
        raise CsrfRejected()
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise CsrfRejected()
    origin = request.headers.get("origin")
    if origin is not None:
        host = request.headers.get("host", "")
        # Host and port must match; the scheme may differ behind a TLS proxy.
        if origin == "null" or urlsplit(origin).netloc.lower() != host.lower():
            raise CsrfRejected()


class AccountPage:
    """Serves the page and its assets, read once at start."""

    def __init__(self) -> None:
        self.html = _asset("account.html")
        self.assets = {name: _asset(name) for name in _TYPES}

    async def page(self, request: Request) -> Response:
        """The account page: sign in, sessions, password."""
        return Response(self.html, headers=PAGE_HEADERS, media_type="text/html; charset=utf-8")

    async def asset(self, request: Request) -> Response:
        name = request.path_params["name"]
        body = self.assets.get(name)
        if body is None:
            raise NotFound()
        headers = {**PAGE_HEADERS, "cache-control": "no-cache", "content-type": _TYPES[name]}
        return Response(body, headers=headers)
