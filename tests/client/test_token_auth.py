"""TokenAuth against the service in process (async client, 48 tasks)."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from keyturn.client import FileStorage, LoginFailed, SessionEnded, TokenAuth, Tokens
from tests.client.conftest import ManualTime, Service
from tests.conftest import PASSWORD

TTL = 60


def auth_for(svc: Service, time_: ManualTime, refreshes: list[Tokens], **kw: Any) -> TokenAuth:
    if "tokens" not in kw and "storage" not in kw:
        kw.update(username="alice", password=PASSWORD)
    return TokenAuth(
        svc.base_url, clock=time_, on_refresh=refreshes.append, async_transport=svc.transport, leeway=10, **kw
    )


async def test_logs_in_on_first_use_and_attaches_the_bearer(
    make_service: Callable[..., Any], manual_time: ManualTime
) -> None:
    async with make_service(access_token_ttl=TTL) as svc:
        await svc.add_user()
        seen: list[Tokens] = []
        async with svc.client(auth=auth_for(svc, manual_time, seen)) as http:
            r = await http.get("/auth/me")
        assert r.status_code == 200
        assert r.json()["username"] == "alice"
        assert len(seen) == 1  # the login


@pytest.mark.parametrize("mode", ["proactive", "token_expired"])
async def test_48_concurrent_requests_across_expiry_make_one_refresh(
    make_service: Callable[..., Any], manual_time: ManualTime, mode: str
) -> None:
    async with make_service(access_token_ttl=TTL, reuse_interval=0) as svc:
        await svc.add_user()
        seen: list[Tokens] = []
        auth = auth_for(svc, manual_time, seen)
        async with svc.client(auth=auth) as http:
            assert (await http.get("/auth/me")).status_code == 200
            first = auth.tokens
            if mode == "proactive":
                manual_time.advance(TTL)  # the client knows its token is due
            else:
                svc.clock.advance(TTL + 10)  # only the server knows: 401 token_expired
            answers = await asyncio.gather(*(http.get("/auth/me") for _ in range(48)))
        assert [r.status_code for r in answers] == [200] * 48
        assert len(seen) == 2  # the login and exactly one refresh
        assert auth.tokens is not None and first is not None
        assert auth.tokens.refresh_token != first.refresh_token
        assert await svc.live_sessions() == 1


async def test_starts_from_given_tokens(make_service: Callable[..., Any], manual_time: ManualTime) -> None:
    async with make_service() as svc:
        await svc.add_user()
        async with svc.client() as http:
            body = (await http.post("/auth/login", json={"username": "alice", "password": PASSWORD})).json()
        seen: list[Tokens] = []
        async with svc.client(auth=auth_for(svc, manual_time, seen, tokens=body)) as http:
            assert (await http.get("/auth/me")).status_code == 200
        assert seen == []


@pytest.mark.parametrize("how", ["logout", "reuse"])
async def test_a_dead_session_raises_session_ended_once(
    make_service: Callable[..., Any], manual_time: ManualTime, how: str
) -> None:
    async with make_service(access_token_ttl=TTL, reuse_interval=0) as svc:
        await svc.add_user()
        seen: list[Tokens] = []
        auth = auth_for(svc, manual_time, seen)
        async with svc.client(auth=auth) as http:
            assert (await http.get("/auth/me")).status_code == 200
            assert auth.tokens is not None
            async with svc.client() as other:
                if how == "logout":
                    r = await other.post("/auth/logout", headers={"authorization": f"Bearer {auth.tokens.access_token}"})
                    assert r.status_code == 204
                else:  # someone else used our refresh token first: ours is now "reused"
                    r = await other.post("/auth/refresh", json={"refresh_token": auth.tokens.refresh_token},
                                         headers={"user-agent": "someone-else/1"})
                    assert r.status_code == 200
                    svc.clock.advance(1)  # out of the (zero) grace window
            manual_time.advance(TTL)
            with pytest.raises(SessionEnded) as ended:
                await http.get("/auth/me")
        assert ended.value.code == {"logout": "session_revoked", "reuse": "refresh_token_reused"}[how]
        assert auth.tokens is None
        assert len(seen) == 1


async def test_no_credentials_and_no_tokens_is_a_clear_error(make_service: Callable[..., Any]) -> None:
    async with make_service() as svc:
        async with svc.client(auth=TokenAuth(svc.base_url, async_transport=svc.transport)) as http:
            with pytest.raises(LoginFailed) as failed:
                await http.get("/auth/me")
        assert failed.value.code == "no_tokens"


async def test_wrong_password_is_login_failed(make_service: Callable[..., Any]) -> None:
    async with make_service() as svc:
        await svc.add_user()
        auth = TokenAuth(svc.base_url, username="alice", password="wrong password!!", async_transport=svc.transport)
        async with svc.client(auth=auth) as http:
            with pytest.raises(LoginFailed) as failed:
                await http.get("/auth/me")
        assert failed.value.code == "invalid_credentials"


async def test_file_storage_is_0600_and_a_second_client_adopts_instead_of_refreshing(
    make_service: Callable[..., Any], manual_time: ManualTime, tmp_path: Path
) -> None:
    path = tmp_path / "tokens.json"
    async with make_service(access_token_ttl=TTL, reuse_interval=0) as svc:
        await svc.add_user()
        seen_a: list[Tokens] = []
        seen_b: list[Tokens] = []
        a = auth_for(svc, manual_time, seen_a, storage=FileStorage(path), username="alice", password=PASSWORD)
        async with svc.client(auth=a) as http:
            assert (await http.get("/auth/me")).status_code == 200
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        b = auth_for(svc, manual_time, seen_b, storage=FileStorage(path))
        async with svc.client(auth=b) as http:
            assert (await http.get("/auth/me")).status_code == 200  # loaded from the file
        manual_time.advance(TTL)
        async with svc.client(auth=a) as http:
            assert (await http.get("/auth/me")).status_code == 200  # a refreshes
        async with svc.client(auth=b) as http:
            assert (await http.get("/auth/me")).status_code == 200  # b adopts a's tokens
        assert (len(seen_a), len(seen_b)) == (2, 0)
        assert b.tokens == a.tokens
        assert await svc.live_sessions() == 1


def test_file_storage_ignores_a_damaged_file(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text("{not json")
    assert FileStorage(path).load() is None


@pytest.mark.parametrize("code", ["token_expired", "signing_key_revoked"])
async def test_retry_happens_once_only(make_service: Callable[..., Any], manual_time: ManualTime, code: str) -> None:
    """A server that keeps answering a "refresh helps" code gets one
    refresh and one retry, not a loop."""
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path == "/auth/refresh":
            return httpx.Response(200, json={"access_token": f"a{len(calls)}", "refresh_token": f"r{len(calls)}", "expires_in": 60})
        return httpx.Response(401, json={"error": "invalid_token", "code": code})

    transport = httpx.MockTransport(handler)
    auth = TokenAuth("http://x", tokens={"access_token": "a0", "refresh_token": "r0", "expires_in": 60},
                     transport=transport, clock=manual_time)
    with httpx.Client(transport=transport, base_url="http://x", auth=auth) as http:
        r = http.get("/api")
    assert r.status_code == 401
    assert calls == ["/api", "/auth/refresh", "/api"]
