"""What an operator does, and what the hashing policy asks, leaves a trace:
an administrator's revoke is a security event, and a stored hash made with
weaker argon2 parameters is upgraded on the next successful login."""

from __future__ import annotations

import argon2

from keyturn.service.wiring import Runtime
from tests.conftest import PASSWORD
from tests.service.conftest import login, new_user


async def test_an_admin_revoke_is_an_event(rt: Runtime) -> None:
    user_id = await new_user(rt)
    pair = await login(rt)
    assert await rt.service.admin_revoke_session(pair.session_id)
    events = [e for e in await rt.stores.events.list_events(limit=100) if e.type == "session_revoked"]
    assert [(e.user_id, e.session_id) for e in events] == [(user_id, pair.session_id)]
    assert '"admin"' in events[0].detail


async def test_revoking_an_unknown_session_records_nothing(rt: Runtime) -> None:
    assert not await rt.service.admin_revoke_session("no-such-session")
    assert [e for e in await rt.stores.events.list_events(limit=100) if e.type == "session_revoked"] == []


async def test_a_hash_with_old_parameters_is_upgraded_on_login(rt: Runtime) -> None:
    user_id = await new_user(rt)
    # A hash from before the operator raised the memory cost.
    old = argon2.PasswordHasher(time_cost=1, memory_cost=512, parallelism=1).hash(PASSWORD)
    await rt.stores.users.set_password_hash(user_id, old)
    await login(rt)
    user = await rt.stores.users.user_by_id(user_id)
    assert user is not None and user.password_hash != old and "m=1024" in user.password_hash
    assert not rt.service.passwords.needs_rehash(user.password_hash)
    await login(rt)  # the upgraded hash still takes the password


async def test_a_current_hash_is_left_alone(rt: Runtime) -> None:
    user_id = await new_user(rt)
    before = await rt.stores.users.user_by_id(user_id)
    await login(rt)
    after = await rt.stores.users.user_by_id(user_id)
    assert before is not None and after is not None and after.password_hash == before.password_hash
