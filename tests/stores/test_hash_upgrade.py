"""A login that upgrades the stored hash (weaker argon2 parameters, or an
imported foreign hash) writes the new hash only if the stored one is still
the hash it verified: a password change landing between the check and the
write must win, on every engine that holds users.

The race is made deterministic: the upgrade's hashing waits at a gate
while the owner changes the password, then the login writes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import argon2
import pytest

from keyturn.clock import FrozenClock
from keyturn.config import Settings
from keyturn.errors import InvalidCredentials
from keyturn.service.wiring import Runtime, build_runtime
from keyturn.stores.bundle import Stores
from tests.conftest import PASSWORD

NEW_PASSWORD = PASSWORD + "-new"


def old_argon2(password: str) -> str:
    """A hash from before the operator raised the memory cost."""
    return argon2.PasswordHasher(time_cost=1, memory_cost=512, parallelism=1).hash(password)


def imported_bcrypt(password: str) -> str:
    import bcrypt

    return "{bcrypt}" + bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


STALE_HASHES = {"argon2-old-parameters": old_argon2, "imported-bcrypt": imported_bcrypt}


@pytest.fixture
async def rt(
    database_stores: Stores, clock: FrozenClock, make_settings: Callable[..., Settings]
) -> AsyncIterator[Runtime]:
    runtime = build_runtime(make_settings(), clock=clock, stores=database_stores)
    await runtime.start()
    yield runtime
    runtime.service.passwords.close()


def gate_upgrade_of(rt: Runtime, password: str) -> tuple[asyncio.Event, asyncio.Event]:
    """Hold the next hashing of ``password`` (the login's upgrade) until
    ``release`` is set; ``reached`` tells the test it is being held."""
    reached, release = asyncio.Event(), asyncio.Event()
    real: Callable[[str], Awaitable[str]] = rt.service.passwords.hash

    async def gated(secret: str) -> str:
        if secret == password and not reached.is_set():
            reached.set()
            await release.wait()
        return await real(secret)

    rt.service.passwords.hash = gated  # type: ignore[method-assign]
    return reached, release


async def login(rt: Runtime, password: str = PASSWORD) -> Any:
    return await rt.service.login("alice", password, ip="203.0.113.7", user_agent="ua")


@pytest.mark.parametrize("stale", sorted(STALE_HASHES))
async def test_a_password_change_racing_the_upgrade_is_never_undone(rt: Runtime, stale: str) -> None:
    user = await rt.service.create_user("alice", PASSWORD)
    owner = await login(rt)  # the owner's session, to change the password with
    claims = await rt.service.check_access(owner.access_token)
    await rt.stores.users.set_password_hash(user.id, STALE_HASHES[stale](PASSWORD))
    reached, release = gate_upgrade_of(rt, PASSWORD)
    racing = asyncio.create_task(login(rt))  # verifies the stale hash, then upgrades
    try:
        await asyncio.wait_for(reached.wait(), 30)
        await rt.service.change_password(claims, PASSWORD, NEW_PASSWORD)
    finally:
        release.set()
    await asyncio.wait_for(racing, 30)
    stored = await rt.stores.users.user_by_id(user.id)
    assert stored is not None
    assert await rt.service.passwords.verify(stored.password_hash, NEW_PASSWORD)
    with pytest.raises(InvalidCredentials):
        await login(rt, PASSWORD)
    await login(rt, NEW_PASSWORD)


@pytest.mark.parametrize("stale", sorted(STALE_HASHES))
async def test_without_a_race_the_stale_hash_is_upgraded(rt: Runtime, stale: str) -> None:
    user = await rt.service.create_user("alice", PASSWORD)
    before = STALE_HASHES[stale](PASSWORD)
    await rt.stores.users.set_password_hash(user.id, before)
    await login(rt)
    stored = await rt.stores.users.user_by_id(user.id)
    assert stored is not None and stored.password_hash != before
    assert stored.password_hash.startswith("$argon2id$")
    assert not rt.service.passwords.needs_rehash(stored.password_hash)
    await login(rt)  # the upgraded hash takes the password
