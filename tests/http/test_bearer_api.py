"""Bearer-protected routes: me, sessions, logout variants, password, JWKS."""

from __future__ import annotations

import base64
import json

import pytest

from tests.conftest import PASSWORD, Api


def assert_bearer_401(r: object, code: str, *, token_sent: bool = True) -> None:
    import httpx

    assert isinstance(r, httpx.Response)
    assert r.status_code == 401, r.text
    assert r.json()["code"] == code
    assert r.json()["error"] == "invalid_token"
    challenge = r.headers["www-authenticate"]
    if not token_sent:  # RFC 6750 §3.1: no token, no error code in the challenge
        assert challenge == 'Bearer realm="keyturn"'
        return
    assert challenge.startswith("Bearer ") and 'error="invalid_token"' in challenge and "error_description=" in challenge


async def test_me(api: Api) -> None:
    tokens = await api.user_and_login()
    r = await api.get("/auth/me", tokens["access_token"])
    assert r.json() == {"user_id": r.json()["user_id"], "username": "alice", "session_id": tokens["session_id"]}


@pytest.mark.parametrize(
    "header", [None, "", "Bearer", "Bearer ", "Basic YWxpY2U6cHc=", "Bearer not.a.jwt", "Bearer " + "A" * 20000]
)
async def test_bad_bearer_is_token_invalid(api: Api, header: str | None) -> None:
    headers = {} if header is None else {"authorization": header}
    r = await api.client.get("/auth/me", headers=headers)
    assert_bearer_401(r, "token_invalid", token_sent=header == "Bearer not.a.jwt")


async def test_expired_access_token(api: Api) -> None:
    tokens = await api.user_and_login()
    api.clock.advance(1800 + 5)
    assert_bearer_401(await api.get("/auth/me", tokens["access_token"]), "token_expired")


async def test_tampered_expired_token_is_invalid_not_expired(api: Api) -> None:
    tokens = await api.user_and_login()
    api.clock.advance(1800 + 5)
    h, p, s = tokens["access_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(p + "=="))
    claims["sub"] = "someone-else"
    p2 = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert_bearer_401(await api.get("/auth/me", f"{h}.{p2}.{s}"), "token_invalid")


async def test_refresh_token_is_not_a_bearer_token(api: Api) -> None:
    tokens = await api.user_and_login()
    assert_bearer_401(await api.get("/auth/me", tokens["refresh_token"]), "token_invalid")


async def test_access_token_is_not_a_refresh_token(api: Api) -> None:
    tokens = await api.user_and_login()
    r = await api.refresh(tokens["access_token"])
    assert (r.status_code, r.json()["code"]) == (401, "refresh_token_invalid")


async def test_token_in_query_string_is_ignored(api: Api) -> None:
    tokens = await api.user_and_login()
    r = await api.client.get("/auth/me", params={"access_token": tokens["access_token"]})
    assert_bearer_401(r, "token_invalid", token_sent=False)


async def test_logout_revokes_access_and_refresh(api: Api) -> None:
    tokens = await api.user_and_login()
    assert (await api.post("/auth/logout", tokens["access_token"])).status_code == 204
    assert_bearer_401(await api.get("/auth/me", tokens["access_token"]), "token_revoked")
    r = await api.refresh(tokens["refresh_token"])
    assert r.json()["code"] == "session_revoked"


async def test_logout_all_and_others(api: Api) -> None:
    a = await api.user_and_login()
    b = (await api.login()).json()
    c = (await api.login()).json()
    assert (await api.post("/auth/logout-others", a["access_token"])).status_code == 204
    assert (await api.get("/auth/me", a["access_token"])).status_code == 200
    for other in (b, c):
        assert_bearer_401(await api.get("/auth/me", other["access_token"]), "token_revoked")
        assert (await api.refresh(other["refresh_token"])).json()["code"] == "session_revoked"
    d = (await api.login()).json()
    assert (await api.post("/auth/logout-all", d["access_token"])).status_code == 204
    for tok in (a, d):
        assert_bearer_401(await api.get("/auth/me", tok["access_token"]), "token_revoked")


async def test_sessions_listing_and_delete(api: Api) -> None:
    a = await api.user_and_login()
    b = (await api.login(headers={"user-agent": "phone"})).json()
    r = await api.get("/auth/sessions", a["access_token"])
    assert r.status_code == 200
    sessions = r.json()["sessions"]
    assert {s["id"] for s in sessions} == {a["session_id"], b["session_id"]}
    assert set(sessions[0]) == {"id", "created_at", "last_used_at", "ip", "user_agent", "current"}
    current = {s["id"]: s["current"] for s in sessions}
    assert current == {a["session_id"]: True, b["session_id"]: False}
    assert {s["ip"] for s in sessions} == {"203.0.113.7"}
    assert "phone" in {s["user_agent"] for s in sessions}
    r = await api.client.delete(f"/auth/sessions/{b['session_id']}", headers={"authorization": f"Bearer {a['access_token']}"})
    assert r.status_code == 204
    assert (await api.refresh(b["refresh_token"])).json()["code"] == "session_revoked"
    listed = (await api.get("/auth/sessions", a["access_token"])).json()["sessions"]
    assert [s["id"] for s in listed] == [a["session_id"]]  # live sessions only


@pytest.mark.parametrize("target", ["other_user", "unknown", "huge"])
async def test_delete_foreign_session_is_404(api: Api, target: str) -> None:
    mine = await api.user_and_login("alice")
    theirs = await api.user_and_login("bob")
    sid = {"other_user": theirs["session_id"], "unknown": "A" * 22, "huge": "A" * 5000}[target]
    r = await api.client.delete(f"/auth/sessions/{sid}", headers={"authorization": f"Bearer {mine['access_token']}"})
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    assert (await api.refresh(theirs["refresh_token"])).status_code == 200


async def test_password_change_ends_other_sessions(api: Api) -> None:
    a = await api.user_and_login()
    b = (await api.login()).json()
    new = "a much better passphrase"
    r = await api.post("/auth/password", a["access_token"], json={"current_password": "wrong password!", "new_password": new})
    assert (r.status_code, r.json()["code"]) == (401, "invalid_credentials")
    r = await api.post("/auth/password", a["access_token"], json={"current_password": PASSWORD, "new_password": "short"})
    assert (r.status_code, r.json()["code"]) == (400, "weak_password")
    r = await api.post("/auth/password", a["access_token"], json={"current_password": PASSWORD, "new_password": new})
    assert r.status_code == 204
    assert (await api.get("/auth/me", a["access_token"])).status_code == 200
    assert_bearer_401(await api.get("/auth/me", b["access_token"]), "token_revoked")
    assert (await api.login()).status_code == 401
    assert (await api.login(password=new)).status_code == 200


async def test_jwks_publishes_the_signing_key(api: Api) -> None:
    tokens = await api.user_and_login()
    r = await api.client.get("/.well-known/jwks.json")
    assert r.status_code == 200
    keys = r.json()["keys"]
    kid = json.loads(base64.urlsafe_b64decode(tokens["access_token"].split(".")[0] + "=="))["kid"]
    assert [k["kid"] for k in keys] == [kid]
    assert keys[0]["alg"] == "EdDSA" and keys[0]["crv"] == "Ed25519"
    assert "d" not in keys[0]  # never the private half


async def test_health_ready_docs(api: Api) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    r = await api.client.get("/readyz")
    assert r.status_code == 200 and r.json()["stores"] == {"database": "ok", "sessions": "ok"}
    doc = (await api.client.get("/openapi.json")).json()
    assert "/auth/refresh" in doc["paths"] and "/oauth/token" in doc["paths"]
    assert (await api.client.get("/docs")).status_code == 200


async def test_openapi_says_whether_metrics_needs_a_bearer(make_api: object, tmp_path: object) -> None:
    async with make_api() as api:  # type: ignore[operator]
        op = (await api.client.get("/openapi.json")).json()["paths"]["/metrics"]["get"]
        assert "security" not in op
        assert (await api.client.get("/metrics")).status_code == 200
    async with make_api(metrics_token="m" * 32, database_url=f"sqlite:///{tmp_path}/m.db") as api:  # type: ignore[operator]
        op = (await api.client.get("/openapi.json")).json()["paths"]["/metrics"]["get"]
        assert op["security"] == [{"bearer": []}]
        assert (await api.client.get("/metrics")).status_code == 401
