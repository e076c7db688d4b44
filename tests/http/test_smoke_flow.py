"""The 30-second tour, over the ASGI app."""

from __future__ import annotations

from tests.conftest import Api


async def test_register_login_me_refresh_logout(api: Api) -> None:
    tokens = await api.user_and_login()
    me = await api.get("/auth/me", tokens["access_token"])
    assert me.status_code == 200
    assert me.json()["username"] == "alice"
    r = await api.refresh(tokens["refresh_token"])
    assert r.status_code == 200
    new = r.json()
    assert new["refresh_token"] != tokens["refresh_token"]
    r = await api.post("/auth/logout", new["access_token"])
    assert r.status_code == 204
    r = await api.get("/auth/me", new["access_token"])
    assert r.status_code == 401
    assert r.json()["code"] == "token_revoked"
