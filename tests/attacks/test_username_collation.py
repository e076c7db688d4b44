"""Usernames compare as their normalised text (NFKC + case-fold) and nothing
looser: on an engine whose collation folds accents (MySQL/MariaDB's
``utf8mb4_general_ci``) ``àlîcé`` must be neither ``alice``'s login nor a
way around ``alice``'s lockout. Run on every engine via
``KEYTURN_ATTACK_SETTINGS``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.conftest import PASSWORD, Api

VARIANTS = ["àlîcé", "ålıçe", "ALİCE", "alicé"]


async def test_an_accented_variant_is_not_alices_login(target: Api) -> None:
    assert (await target.register("alice")).status_code == 201
    for name in VARIANTS:
        r = await target.login(name)
        assert (r.status_code, r.json()["code"]) == (401, "invalid_credentials"), name


async def test_an_accented_variant_is_another_account(target: Api) -> None:
    assert (await target.register("alice")).status_code == 201
    r = await target.register("àlîcé", "another long passphrase")
    assert r.status_code == 201, r.text
    r = await target.login("àlîcé", "another long passphrase")
    assert r.status_code == 200, r.text
    me = await target.get("/auth/me", r.json()["access_token"])
    assert me.json()["username"] == "àlîcé"


async def test_variants_do_not_step_around_the_lockout(make_target: Callable[..., Any]) -> None:
    async with make_target(login_max_failures=3) as api:
        assert (await api.register("alice")).status_code == 201
        for _ in range(3):
            assert (await api.login("alice", "wrong password!!")).status_code == 401
        # Locked: the right password now answers like a wrong one, and a
        # variant of the name reaches neither alice nor her password.
        assert (await api.login("alice", PASSWORD)).status_code == 429
        for name in VARIANTS:
            assert (await api.login(name, PASSWORD)).status_code in (401, 429), name
