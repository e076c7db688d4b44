"""Every selectable signing algorithm works end to end, and verification is
pinned to the configured one."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest


@pytest.mark.parametrize(("alg", "kty"), [("EdDSA", "OKP"), ("ES256", "EC"), ("HS256", None)])
async def test_login_and_me_with_each_algorithm(make_api: Callable[..., Any], alg: str, kty: str | None) -> None:
    async with make_api(signing_alg=alg) as api:
        tokens = await api.user_and_login()
        header = json.loads(base64.urlsafe_b64decode(tokens["access_token"].split(".")[0] + "=="))
        assert header["alg"] == alg and header["typ"] == "at+jwt" and header["kid"]
        assert (await api.get("/auth/me", tokens["access_token"])).status_code == 200
        keys = (await api.client.get("/.well-known/jwks.json")).json()["keys"]
        if kty is None:
            assert keys == []  # a symmetric secret is never published
        else:
            assert [k["kty"] for k in keys] == [kty]
            assert all("d" not in k and "k" not in k for k in keys)


async def test_token_of_another_algorithm_is_refused(make_api: Callable[..., Any], tmp_path: Any) -> None:
    async with make_api(signing_alg="ES256", database_url=f"sqlite:///{tmp_path}/es.db") as es:
        foreign = (await es.user_and_login())["access_token"]
    async with make_api(signing_alg="EdDSA") as api:
        r = await api.get("/auth/me", foreign)
        assert (r.status_code, r.json()["code"]) == (401, "token_invalid")
