"""``POST /backend/sessions`` and ``/backend/sessions/revoke`` over HTTP:
who may call them, the answers, and every error naming its field."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from keyturn.service.resource_clients import new_client
from tests.conftest import Api


class Backend(httpx.BasicAuth):
    def __init__(self, client_id: str, secret: str) -> None:
        super().__init__(client_id, secret)
        self.client_id = client_id


async def add_client(api: Api, scope: str | None) -> Backend:
    client, secret = new_client(f"c-{scope}", api.clock.now(), scope=scope)
    await api.runtime.stores.clients.add_client(client)
    return Backend(client.id, secret)


@pytest.fixture
async def backend(api: Api) -> Backend:
    return await add_client(api, "sessions:issue")


async def issue(api: Api, auth: httpx.Auth | None, body: Any) -> httpx.Response:
    return await api.client.post("/backend/sessions", json=body, auth=auth)


async def test_issue_answers_like_login_with_the_subject_and_the_clients_id(api: Api, backend: Backend) -> None:
    r = await issue(api, backend, {"subject": "u-1001", "claims": {"roles": ["admin"]}, "scope": "read write"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert {"access_token", "refresh_token", "expires_in", "session_expires_at", "session_id"} <= set(body)
    claims = await api.runtime.service.check_access(body["access_token"])
    assert (claims.sub, claims.client_id, claims.scope, claims.extra) == (
        "u-1001", backend.client_id, "read write", {"roles": ["admin"]})
    # The client refreshes with keyturn directly, as after a login.
    r = await api.refresh(body["refresh_token"])
    assert r.status_code == 200, r.text
    again = await api.runtime.service.check_access(r.json()["access_token"])
    assert (again.sub, again.client_id, again.extra) == ("u-1001", claims.client_id, {"roles": ["admin"]})
    me = await api.get("/auth/me", r.json()["access_token"])
    assert me.status_code == 200 and me.json()["user_id"] == "u-1001"


async def test_revoke_ends_every_session_access_tokens_included(api: Api, backend: Backend) -> None:
    first = (await issue(api, backend, {"subject": "u-7"})).json()
    second = (await issue(api, backend, {"subject": "u-7"})).json()
    r = await api.client.post("/backend/sessions/revoke", json={"subject": "u-7"}, auth=backend)
    assert r.status_code == 200 and r.json() == {"sessions_ended": 2}
    for pair in (first, second):
        assert (await api.get("/auth/me", pair["access_token"])).json()["code"] == "token_revoked"
        assert (await api.refresh(pair["refresh_token"])).status_code == 401
    # A new session after the revoke works again.
    assert (await issue(api, backend, {"subject": "u-7"})).status_code == 200


@pytest.mark.parametrize("path", ["/backend/sessions", "/backend/sessions/revoke"])
async def test_no_or_wrong_credentials_are_invalid_client(api: Api, backend: Backend, path: str) -> None:
    for auth in (None, httpx.BasicAuth("kc_nobody", "kcs_wrong"), httpx.BasicAuth(backend.client_id, "kcs_wrong")):
        r = await api.client.post(path, json={"subject": "u-1"}, auth=auth)
        assert r.status_code == 401 and r.json()["code"] == "invalid_client"


@pytest.mark.parametrize("path", ["/backend/sessions", "/backend/sessions/revoke"])
async def test_a_resource_client_may_not(api: Api, path: str) -> None:
    resource = await add_client(api, None)
    r = await api.client.post(path, json={"subject": "u-1"}, auth=resource)
    assert r.status_code == 403 and r.json()["code"] == "unauthorized_client"


async def test_a_configured_resource_client_may_not(make_api: Any) -> None:
    async with make_api(resource_clients="rs:rs-secret-0123456789") as api:
        r = await issue(api, httpx.BasicAuth("rs", "rs-secret-0123456789"), {"subject": "u-1"})
        assert r.status_code == 403 and r.json()["code"] == "unauthorized_client"
        r = await issue(api, httpx.BasicAuth("rs", "wrong-secret-0123456789"), {"subject": "u-1"})
        assert r.status_code == 401 and r.json()["code"] == "invalid_client"


@pytest.mark.parametrize(("body", "field"), [
    ({}, "subject"),
    ({"subject": ""}, "subject"),
    ({"subject": 42}, "subject"),
    ({"subject": "x" * 201}, "subject"),
    ({"subject": "a b"}, "subject"),
    ({"subject": "u-1", "claims": [1, 2]}, "claims"),
    ({"subject": "u-1", "claims": "admin"}, "claims"),
    ({"subject": "u-1", "claims": {"sub": "someone-else"}}, "'sub'"),
    ({"subject": "u-1", "claims": {"client_id": "x"}}, "'client_id'"),
    ({"subject": "u-1", "claims": {"big": "x" * 3000}}, "claims"),
    ({"subject": "u-1", "scope": ["read"]}, "scope"),
    ({"subject": "u-1", "scope": "bad\"token"}, "scope"),
    ({"subject": "u-1", "ip": "not-an-ip"}, "ip"),
    ({"subject": "u-1", "role": "admin"}, "'role'"),
])
async def test_bad_bodies_are_400_naming_the_field(api: Api, backend: Backend, body: Any, field: str) -> None:
    r = await issue(api, backend, body)
    assert r.status_code == 400, r.text
    assert field in r.json()["error_description"]


async def test_a_keyturn_users_id_is_refused_as_subject(api: Api, backend: Backend) -> None:
    r = await api.register("alice")
    user_id = r.json()["user_id"]
    r = await issue(api, backend, {"subject": user_id})
    assert r.status_code == 409 and r.json()["code"] == "subject_taken"
    r = await api.client.post("/backend/sessions/revoke", json={"subject": user_id}, auth=backend)
    assert r.status_code == 409


async def test_password_login_for_a_subject_fails_like_a_wrong_password(api: Api, backend: Backend) -> None:
    await issue(api, backend, {"subject": "carol"})
    for name in ("carol", "EXTERNAL:carol", "external:carol"):
        r = await api.login(name, "whatever-password-1")
        assert r.status_code == 401 and r.json()["code"] == "invalid_credentials", name


async def test_a_disabled_subject_gets_no_session(api: Api, backend: Backend) -> None:
    live = (await issue(api, backend, {"subject": "dave"})).json()
    user = await api.runtime.stores.users.user_by_id("dave")
    await api.runtime.service.disable_user("dave")
    r = await issue(api, backend, {"subject": "dave"})
    assert r.status_code == 403 and r.json()["code"] == "subject_disabled"
    assert (await api.refresh(live["refresh_token"])).status_code == 401


async def test_max_sessions_applies(make_api: Any) -> None:
    async with make_api(max_sessions_per_user=1) as api:
        backend = await add_client(api, "sessions:issue")
        first = (await issue(api, backend, {"subject": "erin"})).json()
        await issue(api, backend, {"subject": "erin"})
        assert (await api.get("/auth/me", first["access_token"])).json()["code"] == "token_revoked"


async def test_the_openapi_document_lists_the_backend_endpoints(api: Api) -> None:
    paths = (await api.client.get("/openapi.json")).json()["paths"]
    assert "post" in paths["/backend/sessions"] and "post" in paths["/backend/sessions/revoke"]


async def test_a_dpop_proof_binds_the_backend_session(api: Api, backend: Backend) -> None:
    """RFC 9449: the proof the end user's client made for this request binds
    the session to its key, as at login; its refresh then needs that key."""
    from tests.dpop_client import DpopKey

    key = DpopKey()
    base = "http://keyturn.test"
    proof = key.proof("POST", f"{base}/backend/sessions", iat=api.clock.now())
    r = await api.client.post("/backend/sessions", json={"subject": "frank"}, auth=backend, headers={"dpop": proof})
    assert r.status_code == 200 and r.json()["token_type"] == "DPoP", r.text
    claims = await api.runtime.service.verify_access(r.json()["access_token"])
    assert claims.cnf_jkt == key.jkt
    assert (await api.refresh(r.json()["refresh_token"])).status_code == 401  # no proof
    proof = key.proof("POST", f"{base}/auth/refresh", iat=api.clock.now())
    assert (await api.refresh(r.json()["refresh_token"], headers={"dpop": proof})).status_code == 200


async def test_the_end_users_address_binds_the_session(make_api: Any) -> None:
    """``ip`` in the body is the end user's: with binding enforced, their
    own refresh from that network passes, and the backend's does not."""
    async with make_api(ip_binding="enforce") as api:
        backend = await add_client(api, "sessions:issue")
        r = await issue(api, backend, {"subject": "gina", "ip": "198.51.100.20"})
        assert r.status_code == 200
        assert (await api.refresh(r.json()["refresh_token"])).json()["code"] == "binding_mismatch"  # from 203.0.113.7
        session = await api.runtime.stores.sessions.get_session(r.json()["session_id"])
        assert session.login_ip == "198.51.100.20"
