"""Login, refresh (every form), reissue and the RFC 6749 token endpoint."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from keyturn.core import refresh as rt
from tests.conftest import PASSWORD, Api

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
FIELDS = {
    "token_type", "access_token", "expires_in", "access_token_expires_at", "refresh_token",
    "refresh_token_expires_in", "refresh_token_expires_at", "session_expires_at", "issued_at", "session_id",
}


async def test_token_answer_is_exactly_the_contract(api: Api) -> None:
    await api.register()
    r = await api.login()
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert set(body) == FIELDS
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 1800 and body["refresh_token_expires_in"] == 172800
    for name in ("access_token_expires_at", "refresh_token_expires_at", "session_expires_at", "issued_at"):
        assert ISO.match(body[name]), body[name]
    from keyturn.clock import iso

    now = api.clock.now()
    assert body["issued_at"] == iso(now)  # the server's clock
    assert body["access_token_expires_at"] == iso(now + 1800)
    assert body["refresh_token_expires_at"] == iso(now + 172800)
    assert body["session_expires_at"] == iso(now + 2592000)
    assert body["refresh_token"].startswith(f"krt_{body['session_id']}_")
    parsed = rt.parse(body["refresh_token"])
    assert parsed is not None and len(parsed.mac) * 8 >= 256


async def test_login_failures_are_indistinguishable(api: Api) -> None:
    await api.register("alice")
    await api.register("mallory")
    await api.runtime.service.disable_user("mallory")
    answers = [
        await api.login("nobody"),
        await api.login("alice", "wrong password!!"),
        await api.login("mallory"),
    ]
    assert {a.status_code for a in answers} == {401}
    assert len({a.content for a in answers}) == 1
    assert answers[0].json() == {
        "error": "invalid_grant", "error_description": "invalid username or password", "code": "invalid_credentials",
    }


async def test_unknown_user_costs_a_hash(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    hasher = api.runtime.service.passwords
    original = hasher._verify

    def spy(password_hash: str, password: str) -> bool:
        calls.append(password_hash)
        return original(password_hash, password)

    monkeypatch.setattr(hasher, "_verify", spy)
    await api.register()
    await api.login("nobody")
    await api.login("alice", "wrong password!!")
    assert len(calls) == 2
    assert all(h.startswith("$argon2id$") for h in calls)


async def test_username_is_case_folded(api: Api) -> None:
    await api.register("Alice")
    assert (await api.login("ALICE")).status_code == 200
    assert (await api.register("alice")).status_code == 409


@pytest.mark.parametrize("form", ["json", "header", "bearer_header", "cookie"])
async def test_refresh_token_sources(api: Api, form: str) -> None:
    tokens = await api.user_and_login()
    token = tokens["refresh_token"]
    kw: dict[str, Any] = {}
    if form == "json":
        kw["json"] = {"refresh_token": token}
    elif form == "header":
        kw["headers"] = {"Refresh": token}
    elif form == "bearer_header":
        kw["headers"] = {"Refresh": f"Bearer {token}"}
    else:
        api.client.cookies.set("keyturn_refresh", token, domain="keyturn.test", path="/auth")
        kw["headers"] = {"X-Keyturn-Cookie": "1"}  # the CSRF proof cookie calls need (docs/http-api.md)
    r = await api.client.post("/auth/refresh", **kw)
    assert r.status_code == 200, r.text
    assert r.json()["session_id"] == tokens["session_id"]
    if form == "cookie":
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/auth" in cookie
        assert "refresh_token" not in r.json()  # script never sees the cookie's token
        assert "keyturn_refresh=krt_" in cookie


@pytest.mark.parametrize(
    ("kw", "status", "code"),
    [
        ({}, 400, "missing_refresh_token"),
        ({"json": {}}, 400, "missing_refresh_token"),
        ({"json": {"refresh_token": ""}}, 400, "missing_refresh_token"),
        ({"json": {"refresh_token": 12}}, 400, "invalid_request"),
        ({"json": {"refresh_token": ["krt_"]}}, 400, "invalid_request"),
        ({"json": {"refresh_token": "krt_nope"}}, 401, "refresh_token_invalid"),
        ({"json": {"refresh_token": "x" * 5000}}, 401, "refresh_token_invalid"),
        ({"headers": {"Refresh": "Bearer "}}, 400, "missing_refresh_token"),
    ],
)
async def test_refresh_errors(api: Api, kw: dict[str, Any], status: int, code: str) -> None:
    r = await api.client.post("/auth/refresh", **kw)
    assert (r.status_code, r.json()["code"]) == (status, code)


async def test_reused_and_revoked_codes_over_http(api: Api) -> None:
    tokens = await api.user_and_login()
    live = (await api.refresh(tokens["refresh_token"])).json()
    api.clock.advance(11)
    r = await api.refresh(tokens["refresh_token"], headers={"user-agent": "thief/1"})  # a copy, another program
    assert (r.status_code, r.json()["code"], r.json()["error"]) == (401, "refresh_token_reused", "invalid_grant")
    r = await api.refresh(live["refresh_token"])
    assert (r.status_code, r.json()["code"]) == (401, "session_revoked")


async def test_expired_refresh_over_http(api: Api) -> None:
    tokens = await api.user_and_login()
    api.clock.advance(172800)
    r = await api.refresh(tokens["refresh_token"])
    assert (r.status_code, r.json()["code"]) == (401, "refresh_token_expired")


async def test_reissue(api: Api) -> None:
    tokens = await api.user_and_login()
    r = await api.client.patch("/auth/reissue", headers={"Refresh": tokens["refresh_token"]})
    assert r.status_code == 200 and set(r.json()) == FIELDS
    r = await api.client.patch("/auth/reissue")
    assert (r.status_code, r.json()["code"]) == (400, "missing_refresh_token")
    r = await api.client.patch("/auth/reissue", headers={"Refresh": "krt_forged"})
    assert (r.status_code, r.json()["code"]) == (401, "refresh_token_invalid")


FORM = {"content-type": "application/x-www-form-urlencoded"}


async def test_oauth_token_endpoint(api: Api) -> None:
    tokens = await api.user_and_login()
    r = await api.client.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store" and r.headers["pragma"] == "no-cache"
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 1800
    assert body["access_token"] and body["refresh_token"].startswith("krt_")


@pytest.mark.parametrize(
    ("body", "headers", "error", "code"),
    [
        ("grant_type=password&username=a&password=b", FORM, "unsupported_grant_type", "unsupported_grant_type"),
        ("refresh_token=krt_x", FORM, "invalid_request", "invalid_request"),
        ("grant_type=refresh_token", FORM, "invalid_request", "missing_refresh_token"),
        ("grant_type=refresh_token&refresh_token=krt_bad", FORM, "invalid_grant", "refresh_token_invalid"),
        ("grant_type=refresh_token&grant_type=refresh_token&refresh_token=x", FORM, "invalid_request", "invalid_request"),
        ('{"grant_type":"refresh_token"}', {"content-type": "application/json"}, "invalid_request", "invalid_request"),
        ("grant_type=refresh_token&refresh_token=%ff%fe", FORM, "invalid_grant", "refresh_token_invalid"),
    ],
)
async def test_oauth_token_errors_are_400(api: Api, body: str, headers: dict[str, str], error: str, code: str) -> None:
    r = await api.client.post("/oauth/token", content=body, headers=headers)
    assert r.status_code == 400
    assert r.headers["cache-control"] == "no-store"
    assert (r.json()["error"], r.json()["code"]) == (error, code)


async def test_oauth_token_reuse_is_400_invalid_grant(api: Api) -> None:
    tokens = await api.user_and_login()
    await api.refresh(tokens["refresh_token"])
    api.clock.advance(11)
    r = await api.client.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                              headers={"user-agent": "thief/1"})  # a copy, another program
    assert (r.status_code, r.json()["error"], r.json()["code"]) == (400, "invalid_grant", "refresh_token_reused")


async def test_registration_closed(make_api: Callable[..., Any]) -> None:
    async with make_api(registration="closed") as api:
        r = await api.register()
        assert (r.status_code, r.json()["code"]) == (403, "registration_closed")


async def test_weak_password_and_duplicate(api: Api) -> None:
    r = await api.client.post("/auth/register", json={"username": "bob", "password": "short"})
    assert (r.status_code, r.json()["code"]) == (400, "weak_password")
    assert (await api.register("bob")).status_code == 201
    r = await api.register("bob")
    assert (r.status_code, r.json()["code"]) == (409, "username_taken")


async def test_unicode_password_round_trips(api: Api) -> None:
    pw = "pässwörd-ß-漢字-🔑🔑"
    assert (await api.client.post("/auth/register", json={"username": "uni", "password": pw})).status_code == 201
    assert (await api.login("uni", pw)).status_code == 200
    assert (await api.login("uni", PASSWORD)).status_code == 401
