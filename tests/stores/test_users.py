"""The UserStore contract on every database engine, and the username
conformance set: the same names collide, and the same names do not, on
memory, SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from keyturn.core.users import User, normalize_username
from keyturn.errors import UsernameTaken

T0 = 1_795_000_000.0

# (first, second): names people type; True when they are one account.
NAMES = [
    ("alice", "Alice", True),
    ("alice", "ＡＬＩＣＥ", True),  # fullwidth (NFKC)
    ("straße", "STRASSE", True),  # case-fold
    ("e\u0301mile", "émile", True),  # decomposed vs composed (NFKC)
    ("alice", "  alice ", True),
    ("alice", "àlîcé", False),  # accents are part of the name
    ("alice", "alicé", False),
    ("resume", "résumé", False),
    ("alice", "alice2", False),
    ("ali", "alı", False),  # dotless i
]


def user(name: str) -> User:
    return User(secrets.token_hex(16), normalize_username(name), "hash", T0)


@pytest.mark.parametrize(("first", "second", "same"), NAMES)
async def test_usernames_collide_exactly_when_their_normal_forms_match(
    database: Any, first: str, second: str, same: bool
) -> None:
    await database.add_user(user(first))
    if same:
        with pytest.raises(UsernameTaken):
            await database.add_user(user(second))
    else:
        await database.add_user(user(second))
    found = await database.user_by_name(normalize_username(second))
    assert found is not None and (found.username == normalize_username(first)) is same


async def test_users_by_name_and_id_and_updates(database: Any) -> None:
    alice = user("alice")
    await database.add_user(alice)
    assert await database.user_by_name("alice") == alice
    assert await database.user_by_id(alice.id) == alice
    assert await database.user_by_name("bob") is None
    await database.set_password_hash(alice.id, "new-hash")
    assert await database.set_disabled(alice.id, True)
    assert not await database.set_disabled("no-such-id", True)
    found = await database.user_by_id(alice.id)
    assert found is not None and (found.password_hash, found.disabled) == ("new-hash", True)


async def test_list_users_oldest_first(database: Any) -> None:
    for i, name in enumerate(["carol", "alice", "bob"]):
        await database.add_user(User(secrets.token_hex(16), name, "h", T0 + i))
    assert [u.username for u in await database.list_users()] == ["carol", "alice", "bob"]
    assert len(await database.list_users(limit=2)) == 2


async def test_upgrade_password_hash_replaces_only_the_hash_it_was_given(database: Any) -> None:
    """Compare-and-set: the upgrade after a login names the hash it verified."""
    alice = user("alice")
    await database.add_user(alice)
    assert await database.upgrade_password_hash(alice.id, verified="hash", new="upgraded")
    await database.set_password_hash(alice.id, "changed")  # a password change lands
    assert not await database.upgrade_password_hash(alice.id, verified="upgraded", new="stale")
    assert not await database.upgrade_password_hash("no-such-id", verified="changed", new="x")
    found = await database.user_by_id(alice.id)
    assert found is not None and found.password_hash == "changed"


async def test_add_users_inserts_all_or_none(database: Any) -> None:
    """An import is one step: a name already taken, or twice in the batch,
    leaves no user of the batch behind."""
    await database.add_users([])
    await database.add_user(user("carol"))
    with pytest.raises(UsernameTaken):
        await database.add_users([user("alice"), user("carol"), user("bob")])
    with pytest.raises(UsernameTaken):
        await database.add_users([user("alice"), user("bob"), user("Alice")])
    assert [u.username for u in await database.list_users()] == ["carol"]
    disabled = User(secrets.token_hex(16), "dave", "hash", T0 + 1, disabled=True)
    await database.add_users([user("alice"), disabled])
    assert {u.username for u in await database.list_users()} == {"carol", "alice", "dave"}
    assert await database.user_by_name("dave") == disabled


async def test_users_by_names_finds_the_ones_there_in_chunks(database: Any) -> None:
    names = [f"user{i}" for i in range(1200)]  # more than one query's worth
    await database.add_users([User(secrets.token_hex(16), n, "h", T0) for n in names[::3]])
    found = await database.users_by_names([*names, "nobody"])
    assert sorted(u.username for u in found) == sorted(names[::3])
    assert await database.users_by_names([]) == []
