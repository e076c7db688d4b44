"""Claims, scope and ``client_id`` in access tokens, on every engine
(docs/adopt.md): taken from the store at login and at every refresh, so a
change reaches the next access token without a new login; sessions a
backend vouches for; and the session-store copy behind it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from keyturn.core.tokens import AccessClaims
from keyturn.errors import BadRequest, RefreshTokenInvalid, SessionRevoked, SubjectTaken, TokenRevoked
from keyturn.service.wiring import Runtime
from tests.conftest import PASSWORD
from tests.stores.test_conformance import T0, add, make_session, new_user, rotate

IP, UA = "203.0.113.7", "ua"


async def claims_of(rt: Runtime, access_token: str) -> AccessClaims:
    return await rt.service.check_access(access_token)


async def refresh(rt: Runtime, token: str) -> Any:
    return await rt.service.refresh(token, ip=IP, user_agent=UA)


async def test_login_and_refresh_carry_the_users_claims_scope_and_client_id(make_runtime: Callable[..., Any]) -> None:
    rt = await make_runtime(first_party_client_id="my-web-app")
    await rt.service.create_user("alice", PASSWORD)
    await rt.service.set_user_claims("alice", claims={"roles": ["reader"], "tenant": "acme"}, scope="read")
    pair = await rt.service.login("alice", PASSWORD, ip=IP, user_agent=UA)
    c = await claims_of(rt, pair.access_token)
    assert (c.extra, c.scope, c.client_id) == ({"roles": ["reader"], "tenant": "acme"}, "read", "my-web-app")
    assert c.roles == ("reader",) and c.scopes == {"read"}
    again = await claims_of(rt, (await refresh(rt, pair.refresh_token)).access_token)
    assert (again.extra, again.scope, again.client_id) == (c.extra, c.scope, c.client_id)


async def test_a_change_reaches_the_next_refresh_of_a_live_session(make_runtime: Callable[..., Any]) -> None:
    """The role change reaches resource servers within one access-token
    lifetime: the warm refresh (facts cached, one store call) returns the
    new claims, and so does a replica that never saw the session."""
    rt = await make_runtime()
    cold = await make_runtime()
    await rt.service.create_user("alice", PASSWORD)
    pair = await rt.service.login("alice", PASSWORD, ip=IP, user_agent=UA)
    assert (await claims_of(rt, pair.access_token)).extra == {}
    pair = await refresh(rt, pair.refresh_token)  # the facts are cached now
    await rt.service.set_user_claims("alice", claims={"roles": ["admin"]}, scope="read write")
    warm = await refresh(rt, pair.refresh_token)
    c = await claims_of(rt, warm.access_token)
    assert (c.extra, c.scope) == ({"roles": ["admin"]}, "read write")
    await rt.service.set_user_claims("alice", claims={}, scope="")
    c = await claims_of(rt, (await refresh(cold, warm.refresh_token)).access_token)
    assert (c.extra, c.scope) == ({}, None)


async def test_a_login_that_read_old_claims_never_writes_them_back(store: Any) -> None:
    """``create_session`` writes a login's copy only where none is stored:
    a login racing ``users set`` cannot undo it."""
    user = new_user()
    await store.set_grants(user, '{"c":{"role":"new"},"s":null}')
    s = make_session(user, grants='{"c":{"role":"old"},"s":null}')
    await store.create_session(s, max_sessions=0, now=T0)
    assert (await store.get_session(s.id)).grants == '{"c":{"role":"new"},"s":null}'
    won = await store.rotate(s.id, 0, now=T0 + 1, idle_expires_at=T0 + 100, ip=None, user_agent=None, user_id=user)
    assert won is not None and won.grants == '{"c":{"role":"new"},"s":null}'


async def test_rotate_returns_the_grants_and_a_lost_rotate_none(store: Any) -> None:
    user = new_user()
    s = await add(store, user)
    assert (await store.rotate(s.id, 0, now=T0 + 1, idle_expires_at=T0 + 100, ip=None, user_agent=None)).grants is None
    await store.set_grants(user, '{"c":{},"s":"read"}')
    won = await store.rotate(s.id, 1, now=T0 + 2, idle_expires_at=T0 + 100, ip=None, user_agent=None, user_id=user)
    assert won.grants == '{"c":{},"s":"read"}'
    assert await rotate(store, s, 1, T0 + 3) is False
    await store.set_grants(user, None)
    assert (await store.get_session(s.id)).grants is None


async def test_the_session_keeps_its_client_id(store: Any) -> None:
    s = make_session(new_user(), client_id="kc_backend")
    await store.create_session(s, max_sessions=0, now=T0)
    assert (await store.get_session(s.id)).client_id == "kc_backend"
    assert await rotate(store, s, 0, T0 + 1)
    assert (await store.get_session(s.id)).client_id == "kc_backend"
    assert (await store.list_sessions(s.user_id, now=T0 + 2))[0].client_id == "kc_backend"


async def test_issue_session_for_an_external_subject(make_runtime: Callable[..., Any]) -> None:
    rt = await make_runtime()
    sub = "auth0|5f7c8ec7c33c6c004bbafe82"
    pair = await rt.service.issue_session(sub, claims={"roles": ["editor"]}, scope="read", ip=IP, user_agent=UA,
                                          client_id="kc_web")
    c = await claims_of(rt, pair.access_token)
    assert (c.sub, c.client_id, c.extra, c.scope) == (sub, "kc_web", {"roles": ["editor"]}, "read")
    second = await rt.service.issue_session(sub, ip=IP, user_agent=UA)  # claims omitted: kept
    assert (await claims_of(rt, second.access_token)).extra == {"roles": ["editor"]}
    c = await claims_of(rt, (await refresh(rt, pair.refresh_token)).access_token)
    assert (c.sub, c.client_id, c.extra) == (sub, "kc_web", {"roles": ["editor"]})
    # Password login for it fails like any unknown user.
    with pytest.raises(Exception) as failed:
        await rt.service.login(sub, PASSWORD, ip=IP, user_agent=UA)
    assert getattr(failed.value, "code", None) == "invalid_credentials"


async def test_revoke_subject_ends_sessions_and_access_tokens(make_runtime: Callable[..., Any]) -> None:
    rt = await make_runtime()
    one = await rt.service.issue_session("user-42", ip=IP, user_agent=UA)
    two = await rt.service.issue_session("user-42", ip=IP, user_agent=UA)
    other = await rt.service.issue_session("user-43", ip=IP, user_agent=UA)
    assert sorted(await rt.service.revoke_subject("user-42")) == sorted([one.session_id, two.session_id])
    for pair in (one, two):
        with pytest.raises(TokenRevoked):
            await rt.service.check_access(pair.access_token)
        with pytest.raises((SessionRevoked, RefreshTokenInvalid)):
            await refresh(rt, pair.refresh_token)
    assert (await claims_of(rt, other.access_token)).sub == "user-43"
    assert await rt.service.revoke_subject("nobody-here") == []


async def test_a_subject_can_never_be_one_of_keyturns_own_users(make_runtime: Callable[..., Any]) -> None:
    rt = await make_runtime()
    alice = await rt.service.create_user("alice", PASSWORD)
    with pytest.raises(SubjectTaken):
        await rt.service.issue_session(alice.id, ip=IP, user_agent=UA)
    with pytest.raises(SubjectTaken):
        await rt.service.revoke_subject(alice.id)
    with pytest.raises(BadRequest):  # an external name can never be typed at login either
        await rt.service.issue_session("has space", ip=IP, user_agent=UA)


async def test_subjects_differing_in_case_are_two_users(make_runtime: Callable[..., Any]) -> None:
    """MySQL's default collation would make ``Bob`` and ``bob`` one row."""
    rt = await make_runtime()
    upper = await rt.service.issue_session("Bob", claims={"n": 1}, ip=IP, user_agent=UA)
    lower = await rt.service.issue_session("bob", claims={"n": 2}, ip=IP, user_agent=UA)
    assert (await claims_of(rt, upper.access_token)).extra == {"n": 1}
    assert (await claims_of(rt, lower.access_token)).extra == {"n": 2}
    assert (await claims_of(rt, lower.access_token)).sub == "bob"


@pytest.mark.parametrize("claims", [{"sub": "x"}, {"exp": 1}, {"client_id": "y"}, {"scope": "z"}, {"cnf": {}}])
async def test_reserved_claims_are_refused_by_name(make_runtime: Callable[..., Any], claims: dict[str, Any]) -> None:
    rt = await make_runtime()
    name = next(iter(claims))
    with pytest.raises(BadRequest, match=repr(name)):
        await rt.service.issue_session("user-1", claims=claims, ip=IP, user_agent=UA)
    await rt.service.create_user("alice", PASSWORD)
    with pytest.raises(BadRequest, match=repr(name)):
        await rt.service.set_user_claims("alice", claims=claims)
