"""The exact-path table routes every request where Starlette's own matching
would, and leaves 404, 405 and the slash redirect to Starlette."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route, Router

from keyturn.config import Settings
from keyturn.http.app import create_app
from keyturn.http.dispatch import EdgeRequest, ExactRouter
from keyturn.http.wire import NO_STORE, JSONBytes
from keyturn.service.wiring import build_runtime
from tests.conftest import Api


def starlette_choice(router: Router, method: str, path: str) -> Route | None:
    scope = {"type": "http", "method": method, "path": path, "root_path": ""}
    for route in router.routes:
        if route.matches(scope)[0] is Match.FULL:
            assert isinstance(route, Route)
            return route
    return None


def test_the_table_picks_starlettes_route(settings: Settings) -> None:
    router = create_app(runtime=build_runtime(settings)).router
    assert isinstance(router, ExactRouter)
    assert ("POST", "/oauth/token") in router.exact and ("POST", "/auth/refresh") in router.exact
    assert ("HEAD", "/healthz") in router.exact
    for (method, path), route in router.exact.items():
        assert starlette_choice(router, method, path) is route, (method, path)
    assert not any("{" in path for _, path in router.exact)


def test_an_earlier_route_wins_as_in_starlette() -> None:
    async def first(request: object) -> Response:
        return Response("first")

    async def second(request: object) -> Response:
        return Response("second")

    # A parameter route listed first shadows the fixed one, in Starlette and here.
    router = ExactRouter([Route("/{name}", first, methods=["GET"]), Route("/x", second, methods=["GET", "POST"])])
    assert router.exact[("GET", "/x")].endpoint is first
    assert router.exact[("POST", "/x")].endpoint is second


async def test_wrong_method_unknown_path_and_head(api: Api) -> None:
    r = await api.client.get("/oauth/token")
    assert (r.status_code, r.json()["code"]) == (405, "method_not_allowed")
    assert r.headers["allow"] == "POST"
    r = await api.client.get("/no/such")
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    r = await api.client.head("/healthz")
    assert r.status_code == 200
    r = await api.client.get("/healthz/", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"].endswith("/healthz")


@pytest.mark.parametrize(("status", "headers"), [(200, NO_STORE), (401, {**NO_STORE, "www-authenticate": "Bearer"}),
                                                 (400, {})])
def test_json_bytes_has_the_general_responses_headers(status: int, headers: dict[str, str]) -> None:
    body = b'{"a":1}'
    raw = [(k.encode(), v.encode()) for k, v in headers.items()]
    fast = JSONBytes(body, status, raw)
    general = Response(body, status, headers=headers, media_type="application/json")
    assert fast.raw_headers == general.raw_headers
    assert (fast.status_code, fast.body) == (general.status_code, general.body)


def test_edge_request_headers_read_like_starlettes() -> None:
    scope = {"type": "http", "headers": [(b"dpop", b"a"), (b"x-two", b"1"), (b"x-two", b"2")]}
    ours, theirs = EdgeRequest(scope).headers, Request(scope).headers
    for name in ("DPoP", "dpop", "x-two", "refresh", "cookie"):
        assert ours.get(name) == theirs.get(name)
        assert ours.get(name, "d") == theirs.get(name, "d")
    assert ours.getlist("x-two") == ["1", "2"]


def test_router_middleware_keeps_starlettes_path() -> None:
    async def endpoint(request: object) -> Response:
        return Response("x")

    router = ExactRouter([Route("/x", endpoint, methods=["GET"])], max_body_size=10)
    assert router.exact == {}
