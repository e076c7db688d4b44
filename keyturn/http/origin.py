"""The URL a client called: ``KEYTURN_PUBLIC_URL`` when set, otherwise the
request's own, with ``X-Forwarded-Proto`` / ``X-Forwarded-Host`` believed
only from a trusted proxy (a client could write them itself). It decides
the refresh cookie's ``Secure`` flag and what a DPoP proof's ``htu`` must be.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from starlette.requests import Request

from keyturn.logs import CURRENT
from keyturn.service.wiring import Runtime

_HOST = re.compile(r"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


def _forwarded(request: Request, name: str) -> str | None:
    """The value our proxy wrote: the rightmost entry over every line."""
    values = ",".join(request.headers.getlist(name)).split(",")
    last = values[-1].strip() if values else ""
    return last or None


def _from_proxy(request: Request, rt: Runtime) -> bool:
    ctx = CURRENT.get()
    peer = request.client.host if request.client else None
    if ctx is not None and ctx.peer is not None:
        peer = ctx.peer
    return rt.proxies.is_trusted(peer)


def public_base(request: Request, rt: Runtime) -> tuple[str, str, str]:
    """``(scheme, host, path prefix)`` clients use to reach us."""
    if rt.settings.public_url:
        base = urlsplit(rt.settings.public_url)
        return base.scheme.lower(), base.netloc, base.path.rstrip("/")
    scheme, host = request.url.scheme, request.headers.get("host") or request.url.netloc
    if _from_proxy(request, rt):
        proto = (_forwarded(request, "x-forwarded-proto") or "").lower()
        if proto in ("http", "https"):
            scheme = proto
        fhost = _forwarded(request, "x-forwarded-host")
        if fhost and _HOST.fullmatch(fhost):
            host = fhost
    return scheme, host, ""


def public_url(request: Request, rt: Runtime) -> str:
    """The request's URL as the client called it (no query: RFC 9449 ``htu``)."""
    scheme, host, prefix = public_base(request, rt)
    path = request.url.path
    if prefix and (path == prefix or path.startswith(prefix + "/")):
        prefix = ""  # mounted under the prefix: the path already has it
    return f"{scheme}://{host}{prefix}{path}"


def is_https(request: Request, rt: Runtime) -> bool:
    return public_base(request, rt)[0] == "https"
