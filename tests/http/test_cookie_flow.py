"""The cookie flow the /account page uses, and its CSRF check."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD, Api

COOKIE = {"x-keyturn-cookie": "1"}


async def cookie_login(api: Api) -> dict[str, object]:
    assert (await api.register()).status_code == 201
    r = await api.login(headers=COOKIE)
    assert r.status_code == 200, r.text
    assert "refresh_token" not in r.json()  # only in the HttpOnly cookie
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/auth" in cookie
    body: dict[str, object] = r.json()
    return body


async def test_cookie_login_then_cookie_refresh(api: Api) -> None:
    await cookie_login(api)
    r = await api.client.post("/auth/refresh", headers={**COOKIE, "origin": "http://keyturn.test"})
    assert r.status_code == 200, r.text
    assert "refresh_token" not in r.json()
    assert "keyturn_refresh=krt_" in r.headers["set-cookie"]


@pytest.mark.parametrize(
    "headers",
    [
        {},  # no proof at all: a form post or an <img> from anywhere
        {**COOKIE, "origin": "https://evil.example"},
        {**COOKIE, "origin": "null"},
        {**COOKIE, "sec-fetch-site": "cross-site"},
        {**COOKIE, "sec-fetch-site": "same-site"},
        {"x-keyturn-cookie": "yes"},
    ],
)
async def test_cookie_refresh_without_proof_is_refused(api: Api, headers: dict[str, str]) -> None:
    await cookie_login(api)
    r = await api.client.post("/auth/refresh", headers=headers)
    assert r.status_code == 403
    assert r.json()["code"] == "csrf_rejected"


async def test_cross_origin_cookie_login_is_refused(api: Api) -> None:
    assert (await api.register()).status_code == 201
    r = await api.login(headers={**COOKIE, "origin": "https://evil.example"})
    assert r.status_code == 403
    assert r.json()["code"] == "csrf_rejected"
    assert "set-cookie" not in r.headers


async def test_body_token_needs_no_csrf_header(api: Api) -> None:
    tokens = await api.user_and_login()
    r = await api.refresh(tokens["refresh_token"], headers={"origin": "https://elsewhere.example"})
    assert r.status_code == 200
    assert r.json()["refresh_token"].startswith("krt_")


async def test_logout_clears_the_cookie(api: Api) -> None:
    tokens = await cookie_login(api)
    r = await api.post("/auth/logout", str(tokens["access_token"]))
    assert r.status_code == 204
    assert 'keyturn_refresh=""' in r.headers["set-cookie"] or "max-age=0" in r.headers["set-cookie"].lower()
    r = await api.client.post("/auth/refresh", headers=COOKIE)
    assert r.json()["code"] == "missing_refresh_token"


async def test_account_assets(api: Api) -> None:
    r = await api.client.get("/account/static/account.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert (await api.client.get("/account/static/../config.py")).status_code == 404
    assert (await api.client.get("/account/static/nope.js")).json()["code"] == "not_found"
    assert PASSWORD not in (await api.client.get("/account")).text
