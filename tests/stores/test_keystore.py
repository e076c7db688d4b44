"""Signing keys in every database engine: replicas starting together on an
empty database agree on one active key."""

from __future__ import annotations

import asyncio
from typing import Any

from keyturn.service.keys import KeyCipher, KeySet, generate
from keyturn.service.masterkey import new_master_key, parse_master_key

T0 = 1_795_000_000.0


def cipher() -> KeyCipher:
    return KeyCipher(parse_master_key(new_master_key()))


async def test_only_one_first_key_is_added(database: Any) -> None:
    c = cipher()
    keys = [generate("EdDSA", c, T0)[0] for _ in range(10)]
    added = await asyncio.gather(*(database.add_first_key(k) for k in keys))
    assert added.count(True) == 1
    assert len(await database.list_keys()) == 1


async def test_replicas_starting_together_share_the_active_key(database: Any) -> None:
    c = cipher()
    sets = [KeySet(database, c, "EdDSA", publish_for=60) for _ in range(4)]
    await asyncio.gather(*(s.ensure_active(T0) for s in sets))
    assert len({s.active.kid for s in sets}) == 1


async def test_a_key_of_another_algorithm_does_not_count(database: Any) -> None:
    c = cipher()
    assert await database.add_first_key(generate("HS256", c, T0)[0])
    assert await database.add_first_key(generate("EdDSA", c, T0)[0])
    assert not await database.add_first_key(generate("EdDSA", c, T0)[0])
