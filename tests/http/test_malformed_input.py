"""Malformed input of every kind gets a clear 4xx: never a 500, a traceback
or a hang."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api

JSON = {"content-type": "application/json"}
BODIES: list[tuple[str, bytes, dict[str, str]]] = [
    ("empty", b"", JSON),
    ("whitespace", b"   ", JSON),
    ("not json", b"{username", JSON),
    ("array", b"[1,2]", JSON),
    ("string", b'"hello"', JSON),
    ("null", b"null", JSON),
    ("non-utf8", b'{"username": "\xff\xfe", "password": "x"}', JSON),
    ("wrong types", b'{"username": 5, "password": true}', JSON),
    ("nested", b'{"username": {"a": 1}, "password": ["x"]}', JSON),
    ("nul in username", b'{"username": "al\\u0000ice", "password": "correct horse battery"}', JSON),
    ("lone surrogate", b'{"username": "alice", "password": "\\ud800\\ud800\\ud800\\ud800\\ud800\\ud800"}', JSON),
    ("long username", b'{"username": "' + b"a" * 300 + b'", "password": "correct horse battery"}', JSON),
    ("long password", b'{"username": "alice", "password": "' + b"p" * 1025 + b'"}', JSON),
    ("huge body", b'{"username": "' + b"a" * 200_000 + b'"}', JSON),
    ("form", b"username=alice&password=x", {"content-type": "application/x-www-form-urlencoded"}),
    ("deep nesting", b"[" * 10_000 + b"]" * 10_000, JSON),
    ("bad content-length", b"{}", {"content-type": "application/json", "content-length": "abc"}),
]


@pytest.mark.parametrize("path", ["/auth/register", "/auth/login", "/auth/refresh"])
@pytest.mark.parametrize(("name", "body", "headers"), BODIES, ids=[b[0] for b in BODIES])
async def test_malformed_bodies_are_4xx(api: Api, path: str, name: str, body: bytes, headers: dict[str, str]) -> None:
    r = await api.client.post(path, content=body, headers=headers)
    assert 400 <= r.status_code < 500, (name, r.status_code, r.text)
    payload = r.json()
    assert set(payload) == {"error", "error_description", "code"}
    assert "Traceback" not in r.text


async def test_huge_body_is_413(api: Api) -> None:
    r = await api.client.post("/auth/login", content=b"{" + b" " * 100_000 + b"}", headers=JSON)
    assert (r.status_code, r.json()["code"]) == (413, "payload_too_large")


async def test_streamed_huge_body_without_length_is_413(api: Api) -> None:
    async def chunks() -> Any:
        for _ in range(100):
            yield b" " * 10_000

    r = await api.client.post("/auth/login", content=chunks(), headers=JSON)
    assert r.status_code == 413


@pytest.mark.parametrize(
    ("size", "status", "code"),
    [(1, 401, "refresh_token_invalid"), (10, 401, "refresh_token_invalid"), (75, 401, "refresh_token_invalid"),
     (76, 401, "refresh_token_invalid"), (10_000, 401, "refresh_token_invalid"), (65_000, 413, "payload_too_large")],
)
async def test_garbage_refresh_tokens_of_any_size(api: Api, size: int, status: int, code: str) -> None:
    r = await api.refresh("k" * size)
    assert (r.status_code, r.json()["code"]) == (status, code)


@pytest.mark.parametrize(
    "token", ["krt_" + "\x00" * 71, "krt_" + "A" * 22 + "_" + "é" * 48, "krt_" + "A" * 22 + "_" + "A" * 48]
)
async def test_odd_refresh_tokens(api: Api, token: str) -> None:
    r = await api.refresh(token)
    assert (r.status_code, r.json()["code"]) == (401, "refresh_token_invalid")


async def test_unknown_route_and_method_are_json(api: Api) -> None:
    r = await api.client.get("/nope")
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    r = await api.client.get("/auth/login")
    assert (r.status_code, r.json()["code"]) == (405, "method_not_allowed")
