"""DPoP (RFC 9449) end to end: a session bound to a client key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jwt
import pytest

from keyturn.service.masterkey import new_master_key
from tests.conftest import PASSWORD, Api
from tests.dpop_client import BASE, DpopKey, dpop_login


async def me(api: Api, access: str, key: DpopKey | None, *, scheme: str = "DPoP", **proof_kw: Any) -> Any:
    headers = {"authorization": f"{scheme} {access}"}
    if key is not None:
        iat = proof_kw.pop("iat", api.clock.now())
        headers["dpop"] = key.proof("GET", f"{BASE}/auth/me", iat=iat, access_token=access, **proof_kw)
    return await api.client.get("/auth/me", headers=headers)


async def refresh(api: Api, token: str, key: DpopKey | None, **proof_kw: Any) -> Any:
    headers = {}
    if key is not None:
        headers["dpop"] = key.proof("POST", f"{BASE}/auth/refresh", iat=api.clock.now(), **proof_kw)
    return await api.refresh(token, headers=headers)


async def test_login_with_a_proof_binds_the_session_to_the_key(api: Api) -> None:
    key = DpopKey()
    tokens = await dpop_login(api, key)
    assert tokens["token_type"] == "DPoP"
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["cnf"] == {"jkt": key.jkt}
    session = await api.runtime.stores.sessions.get_session(tokens["session_id"])
    assert session.dpop_jkt == key.jkt


async def test_login_without_a_proof_stays_a_bearer_session(api: Api) -> None:
    tokens = await api.user_and_login()
    assert tokens["token_type"] == "Bearer"
    assert "cnf" not in jwt.decode(tokens["access_token"], options={"verify_signature": False})
    r = await api.client.get("/auth/me", headers={"authorization": f"DPoP {tokens['access_token']}"})
    assert r.status_code == 401


async def test_a_bad_proof_at_login_is_refused(api: Api) -> None:
    await api.register()
    proof = DpopKey().proof("POST", f"{BASE}/auth/refresh", iat=api.clock.now())
    r = await api.login(headers={"dpop": proof})
    assert r.status_code == 401 and r.json()["code"] == "invalid_dpop_proof"
    assert r.headers["www-authenticate"].startswith("DPoP ")


async def test_a_bound_access_token_works_with_a_proof(api: Api) -> None:
    key = DpopKey()
    tokens = await dpop_login(api, key)
    assert (await me(api, tokens["access_token"], key)).status_code == 200


@pytest.mark.parametrize(
    "case",
    ["no proof", "bearer scheme", "another key", "ath of another token", "wrong method", "old proof"],
)
async def test_a_bound_access_token_needs_a_fresh_proof_with_ath(api: Api, case: str) -> None:
    key = DpopKey()
    access = (await dpop_login(api, key))["access_token"]
    now = api.clock.now()
    r = {
        "no proof": lambda: me(api, access, None),
        "bearer scheme": lambda: me(api, access, key, scheme="Bearer"),
        "another key": lambda: me(api, access, DpopKey()),
        "ath of another token": lambda: me(api, access, key, ath="x"),
        "wrong method": lambda: me(api, access, key, htm="POST"),
        "old proof": lambda: me(api, access, key, iat=now - 120),
    }[case]
    answer = await r()
    assert answer.status_code == 401, answer.text
    assert answer.json()["code"] == "invalid_dpop_proof", answer.text


async def test_a_proof_cannot_be_replayed(api: Api) -> None:
    key = DpopKey()
    tokens = await dpop_login(api, key)
    access = tokens["access_token"]
    headers = {"authorization": f"DPoP {access}",
               "dpop": key.proof("GET", f"{BASE}/auth/me", iat=api.clock.now(), access_token=access)}
    assert (await api.client.get("/auth/me", headers=headers)).status_code == 200
    again = await api.client.get("/auth/me", headers=headers)
    assert again.status_code == 401 and again.json()["code"] == "invalid_dpop_proof"


async def test_refresh_needs_a_proof_from_the_same_key_and_is_not_consumed_without(api: Api) -> None:
    key = DpopKey()
    tokens = await dpop_login(api, key)
    rt = tokens["refresh_token"]
    for r in [await refresh(api, rt, None), await refresh(api, rt, DpopKey()),
              await refresh(api, rt, key, htu=f"{BASE}/auth/login")]:
        assert r.status_code == 401 and r.json()["code"] == "invalid_dpop_proof"
    r = await refresh(api, rt, key)
    assert r.status_code == 200, r.text
    new = r.json()
    assert new["token_type"] == "DPoP"
    assert jwt.decode(new["access_token"], options={"verify_signature": False})["cnf"] == {"jkt": key.jkt}


async def test_refresh_after_a_restart_still_needs_the_proof(api: Api) -> None:
    key = DpopKey()
    tokens = await dpop_login(api, key)
    api.runtime.service.facts.clear()  # as on a replica that never saw the login
    assert (await refresh(api, tokens["refresh_token"], None)).json()["code"] == "invalid_dpop_proof"
    assert (await refresh(api, tokens["refresh_token"], key)).status_code == 200


async def test_oauth_token_answers_400_invalid_dpop_proof(api: Api) -> None:
    key = DpopKey()
    tokens = await dpop_login(api, key)
    r = await api.client.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof"
    proof = key.proof("POST", f"{BASE}/oauth/token", iat=api.clock.now())
    r = await api.client.post("/oauth/token", headers={"dpop": proof},
                              data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert r.status_code == 200 and r.json()["token_type"] == "DPoP"


async def test_the_replay_cache_is_shared_across_replicas(make_api: Callable[..., Any], tmp_path: Any) -> None:
    shared = {"database_url": f"sqlite:///{tmp_path}/shared.db", "master_key": new_master_key()}
    async with make_api(**shared) as one, make_api(**shared) as two:
        key = DpopKey()
        tokens = await dpop_login(one, key)
        access = tokens["access_token"]
        headers = {"authorization": f"DPoP {access}",
                   "dpop": key.proof("GET", f"{BASE}/auth/me", iat=one.clock.now(), access_token=access)}
        assert (await one.client.get("/auth/me", headers=headers)).status_code == 200
        r = await two.client.get("/auth/me", headers=headers)
        assert r.status_code == 401 and r.json()["code"] == "invalid_dpop_proof"
        assert PASSWORD
