"""Routing without per-request regex walks: an exact ``(method, path)`` table
in front of Starlette's router, and endpoints called without a second
exception-handling layer.

Every route here has a fixed path except one, so a dictionary look-up finds
the route a request's path names; anything the table does not hold (a path
parameter, a wrong method, an unknown path) goes through Starlette's own
matching, so 404, 405 and the slash redirect are exactly Starlette's.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]


class _Headers(Headers):
    """``get`` without raising: Starlette's goes through ``__getitem__`` and
    a ``KeyError`` for every absent header, and most requests lack several
    of the ones keyturn asks for (``DPoP``, ``Refresh``, ``Cookie``, ...)."""

    def get(self, key: str, default: Any = None) -> Any:
        wanted = key.lower().encode("latin-1")
        for name, value in self._list:
            if name == wanted:
                return value.decode("latin-1")
        return default


class EdgeRequest(Request):
    """The request the endpoints see: Starlette's, with ``_Headers``."""

    @property
    def headers(self) -> Headers:
        if not hasattr(self, "_headers"):
            self._headers = _Headers(scope=self.scope)
        return self._headers


def _plain(endpoint: Endpoint) -> ASGIApp:
    """``endpoint`` as an ASGI app. An exception goes straight to the app's
    exception middleware, whose handlers are the same ones Starlette's own
    adapter would have run here (keyturn mounts no per-route middleware)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response = await endpoint(EdgeRequest(scope, receive, send))
        await response(scope, receive, send)

    return app


class PlainRoute(Route):
    """A ``Route`` for an async ``endpoint(request) -> Response``."""

    def __init__(self, path: str, endpoint: Endpoint, *, methods: list[str], include_in_schema: bool = True) -> None:
        assert inspect.iscoroutinefunction(endpoint), f"{path}: endpoints are async"
        super().__init__(path, endpoint, methods=methods, include_in_schema=include_in_schema)
        self.app = _plain(endpoint)


class ExactRouter(Router):
    """Starlette's router with a dictionary of the fixed paths in front."""

    def __init__(self, routes: Sequence[BaseRoute], **kwargs: Any) -> None:
        super().__init__(routes=list(routes), **kwargs)
        self.exact: dict[tuple[str, str], Route] = {}
        if self.middleware_stack != self.app:
            return  # router middleware must see every request: Starlette's path only
        for route in self.routes:
            if isinstance(route, Route) and not route.param_convertors:
                for method in route.methods or ():
                    # The route Starlette itself would pick: the first full match.
                    self.exact.setdefault((method, route.path), self._first_match(method, route.path))

    def _first_match(self, method: str, path: str) -> Route:
        probe: Scope = {"type": "http", "method": method, "path": path, "root_path": ""}
        for route in self.routes:
            match, _ = route.matches(probe)
            if match is Match.FULL:
                assert isinstance(route, Route)
                return route
        raise AssertionError(f"no route answers {method} {path}")  # pragma: no cover - built from the routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Here rather than in ``app``: one frame less on every resumption of
        # the request's task (there is no router middleware to go through).
        route = self.exact.get((scope.get("method", ""), scope.get("path", ""))) if scope["type"] == "http" else None
        if route is None or scope.get("root_path"):
            await super().__call__(scope, receive, send)
            return
        if "router" not in scope:
            scope["router"] = self
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        scope["path_params"] = dict(scope.get("path_params", {}))
        await route.app(scope, receive, send)

class App(Starlette):
    """Starlette, routed by an ``ExactRouter``."""

    def __init__(self, *, routes: Sequence[BaseRoute], **kwargs: Any) -> None:
        super().__init__(routes=routes, **kwargs)
        self.router = ExactRouter(routes, lifespan=kwargs.get("lifespan"))
