"""``import_users`` on every engine that holds users: one transaction, a
second run skipped, an existing user with another hash never overwritten."""

from __future__ import annotations

from typing import Any

import bcrypt
import pytest

from keyturn.errors import BadRequest
from keyturn.service.user_import import import_users, parse_lines

T0 = 1_795_000_000.0


def hashed(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


FILE = [
    b'{"username": "alice", "password_hash": "%s"}' % hashed("one").encode(),
    b"",
    b'{"username": "bob", "password_hash": "%s", "disabled": true}' % hashed("two").encode(),
]


async def test_import_twice_then_a_changed_hash_stops_it(database: Any) -> None:
    records = parse_lines(FILE)
    assert (await import_users(database, records, now=T0)).imported == 2
    bob = await database.user_by_name("bob")
    assert bob is not None and bob.disabled and bob.password_hash == records[1].password_hash
    again = await import_users(database, records, now=T0 + 1)
    assert (again.imported, again.skipped) == (0, 2)
    await database.set_password_hash(bob.id, "changed")
    carol = parse_lines([b'{"username": "carol", "password_hash": "%s"}' % hashed("three").encode()])
    with pytest.raises(BadRequest, match="line 3: user 'bob' already exists with another password hash"):
        await import_users(database, records + carol, now=T0 + 2)
    assert await database.user_by_name("carol") is None  # nothing was imported
    skipped = await import_users(database, records + carol, now=T0 + 3, skip_existing=True)
    assert (skipped.imported, skipped.skipped) == (1, 2)
    bob = await database.user_by_name("bob")
    assert bob is not None and bob.password_hash == "changed"  # never overwritten
