"""Each adapter, through its framework's own test client, answers like the
service: 401 with RFC 6750's WWW-Authenticate and the service's code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from keyturn.clock import FrozenClock
from keyturn.core.tokens import AccessClaims
from keyturn.resource.verifier import Verifier
from keyturn.service.keys import KeyCipher, generate
from keyturn.service.masterkey import new_master_key

def starlette_test_client() -> Any:
    """Starlette's TestClient; it warns at import that it prefers httpx2 over
    httpx, which changes nothing here."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient
    return TestClient


Call = Callable[[dict[str, str]], tuple[int, dict[str, Any], dict[str, str]]]


@pytest.fixture(scope="module")
def kit() -> tuple[Verifier, Callable[..., str], FrozenClock]:
    clock = FrozenClock()
    cipher = KeyCipher(new_master_key().encode())
    stored, key = generate("EdDSA", cipher, clock.now())
    verifier = Verifier(None, issuer="keyturn", audience="keyturn", clock=clock, revocations=False)
    verifier.load_jwks({"keys": [orjson.loads(stored.public_jwk)]})

    def mint(scope: str | None = "read", exp_in: int = 60, **extra: Any) -> str:
        now = int(clock.now())
        return key.sign(AccessClaims("keyturn", "keyturn", "user-1", "sid-1", "jti-1", now - 5, now + exp_in, scope,
                                     client_id="app", extra=extra))

    return verifier, mint, clock


def fastapi_call(verifier: Verifier) -> Call:
    from fastapi import Depends, FastAPI

    from keyturn.resource.adapters.fastapi import install, require_user

    app = FastAPI()
    install(app)

    @app.get("/data")
    async def data(claims: AccessClaims = Depends(require_user(verifier, scopes=["read"]))) -> dict[str, str]:
        return {"sub": claims.sub}

    client = starlette_test_client()(app)

    def call(headers: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]]:
        r = client.get("/data", headers=headers)
        return r.status_code, r.json(), dict(r.headers)

    return call


def starlette_call(verifier: Verifier) -> Call:
    from starlette.applications import Starlette
    from starlette.authentication import requires
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from keyturn.resource.adapters.starlette import keyturn_middleware

    @requires(["authenticated", "read"], status_code=403)
    async def data(request: Request) -> JSONResponse:
        return JSONResponse({"sub": request.user.identity})

    app = Starlette(routes=[Route("/data", data)], middleware=[keyturn_middleware(verifier, required=True)])
    client = starlette_test_client()(app)

    def call(headers: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]]:
        r = client.get("/data", headers=headers)
        body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
        return r.status_code, body, dict(r.headers)

    return call


def flask_call(verifier: Verifier) -> Call:
    from flask import Flask

    from keyturn.resource.adapters.flask import current_claims, require_token

    app = Flask("kt")

    @app.get("/data")
    @require_token(verifier, scopes=["read"])
    def data() -> dict[str, str]:
        return {"sub": current_claims().sub}

    client = app.test_client()

    def call(headers: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]]:
        r = client.get("/data", headers=headers)
        return r.status_code, r.get_json(), {k.lower(): v for k, v in r.headers.items()}

    return call


def django_call(verifier: Verifier) -> Call:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False, SECRET_KEY="test", ALLOWED_HOSTS=["testserver"], ROOT_URLCONF=__name__,
            MIDDLEWARE=["keyturn.adapters.django.KeyturnMiddleware"], INSTALLED_APPS=[],
            KEYTURN_VERIFIER=verifier, KEYTURN_EXEMPT_PATHS=["/public"],
        )
        django.setup()
    from django.test import Client, override_settings

    def call(headers: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]]:
        with override_settings(KEYTURN_VERIFIER=verifier):
            r = Client().get("/data", headers=headers)
        return r.status_code, orjson.loads(r.content), {k.lower(): v for k, v in r.headers.items()}

    return call


def _django_view(request: Any) -> Any:
    from django.http import JsonResponse

    return JsonResponse({"sub": request.keyturn_claims.sub})


def _django_public(request: Any) -> Any:
    from django.http import JsonResponse

    return JsonResponse({"claims": request.keyturn_claims})


def __getattr__(name: str) -> Any:  # ROOT_URLCONF's urlpatterns, built lazily
    if name == "urlpatterns":
        from django.urls import path

        from keyturn.adapters.django import require_token

        admin = require_token(scopes=["read"], roles=["admin", "owner"])(_django_view)
        return [path("data", _django_view), path("public", _django_public), path("admin", admin)]
    raise AttributeError(name)


FRAMEWORKS = {"fastapi": fastapi_call, "starlette": starlette_call, "flask": flask_call, "django": django_call}


@pytest.mark.parametrize("framework", sorted(FRAMEWORKS))
@pytest.mark.parametrize("case", ["ok", "missing", "not_bearer", "expired", "garbage"])
def test_adapter_answers_like_the_service(kit: Any, framework: str, case: str) -> None:
    verifier, mint, _ = kit
    headers = {
        "ok": {"authorization": f"Bearer {mint()}"},
        "missing": {},
        "not_bearer": {"authorization": f"Basic {mint()}"},
        "expired": {"authorization": f"Bearer {mint(exp_in=-30)}"},
        "garbage": {"authorization": "Bearer not.a.token"},
    }[case]
    status, body, resp_headers = FRAMEWORKS[framework](verifier)(headers)
    if case == "ok":
        assert (status, body) == (200, {"sub": "user-1"})
        return
    assert status == 401
    assert body["code"] == ("token_expired" if case == "expired" else "token_invalid")
    assert body["error"] == "invalid_token"
    if case in ("missing", "not_bearer"):  # RFC 6750 §3.1: no token, no error code
        assert resp_headers["www-authenticate"] == 'Bearer realm="keyturn"'
    else:
        assert resp_headers["www-authenticate"].startswith('Bearer realm="keyturn", error="invalid_token"')


@pytest.mark.parametrize("framework", ["fastapi", "flask", "starlette"])
def test_a_missing_scope_is_403(kit: Any, framework: str) -> None:
    verifier, mint, _ = kit
    status, body, headers = FRAMEWORKS[framework](verifier)({"authorization": f"Bearer {mint(scope='write')}"})
    assert status == 403
    if framework != "starlette":  # Starlette's own @requires answers its own 403
        assert body["code"] == "insufficient_scope"
        assert 'error="insufficient_scope"' in headers["www-authenticate"]


def test_django_exempt_paths_pass_without_a_token(kit: Any) -> None:
    verifier, _, _ = kit
    django_call(verifier)
    from django.test import Client

    r = Client().get("/public")
    assert r.status_code == 200 and orjson.loads(r.content) == {"claims": None}


async def test_the_challenge_matches_the_service_header(make_api: Callable[..., Any]) -> None:
    from keyturn.errors import TokenExpired
    from keyturn.resource.adapters._common import challenge

    async with make_api(access_token_ttl=60) as api:
        tokens = await api.user_and_login()
        api.clock.advance(120)
        r = await api.get("/auth/me", tokens["access_token"])
    status, body, headers = challenge(TokenExpired())
    assert (status, body) == (r.status_code, r.json())
    assert headers["www-authenticate"] == r.headers["www-authenticate"]


def roles_call(framework: str, verifier: Verifier) -> Callable[[dict[str, str]], tuple[int, dict[str, Any]]]:
    """A route needing scope ``read`` and one of the roles admin, owner."""
    if framework == "django":
        django_call(verifier)
        from django.test import Client, override_settings

        def call_django(headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
            with override_settings(KEYTURN_VERIFIER=verifier):
                r = Client().get("/admin", headers=headers)
            return r.status_code, orjson.loads(r.content)

        return call_django
    if framework == "flask":
        from flask import Flask

        from keyturn.resource.adapters.flask import current_claims, require_token

        app = Flask("kt-roles")

        @app.get("/admin")
        @require_token(verifier, scopes=["read"], roles=["admin", "owner"])
        def admin() -> dict[str, str]:
            return {"sub": current_claims().sub}

        flask_client = app.test_client()
        return lambda headers: (lambda r: (r.status_code, r.get_json()))(flask_client.get("/admin", headers=headers))
    from fastapi import Depends, FastAPI

    from keyturn.resource.adapters.fastapi import install, require_user

    api = FastAPI()
    install(api)

    @api.get("/admin")
    async def admin_route(
        claims: AccessClaims = Depends(require_user(verifier, scopes=["read"], roles=["admin", "owner"])),
    ) -> dict[str, str]:
        return {"sub": claims.sub}

    client = starlette_test_client()(api)
    return lambda headers: (lambda r: (r.status_code, r.json()))(client.get("/admin", headers=headers))


@pytest.mark.parametrize("framework", ["fastapi", "flask", "django"])
@pytest.mark.parametrize(("scope", "roles", "status"), [
    ("read", ["owner"], 200), ("read write", ["viewer", "admin"], 200), ("read", "admin", 200),
    ("read", ["viewer"], 403), ("read", None, 403), ("write", ["admin"], 403), ("read", [1, "x"], 403),
])
def test_roles_need_one_of_them_and_scopes_all(
    kit: Any, framework: str, scope: str, roles: Any, status: int,
) -> None:
    verifier, mint, _ = kit
    token = mint(scope=scope, **({} if roles is None else {"roles": roles}))
    got, body = roles_call(framework, verifier)({"authorization": f"Bearer {token}"})
    assert got == status, body
    if status == 403:
        assert body["code"] == "insufficient_scope"


def test_the_verifier_exposes_claims_scope_and_client_id(kit: Any) -> None:
    verifier, mint, _ = kit
    claims = verifier.verify(mint(scope="read write", roles=["admin"], tenant={"id": 7}))
    assert (claims.scopes, claims.roles, claims.client_id) == ({"read", "write"}, ("admin",), "app")
    assert claims.extra == {"roles": ["admin"], "tenant": {"id": 7}}
