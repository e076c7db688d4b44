"""The ``KeyStore`` contract on every engine that can be the database
(memory, SQLite, PostgreSQL, MariaDB): Redis never holds keys, its bundle
keeps them in the database engine. Replicas starting together on an empty
database agree on one active key; retiring and revoking are one-way."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from keyturn.service.keys import KeyCipher, KeySet, generate
from keyturn.service.masterkey import new_master_key, parse_master_key
from keyturn.stores.bundle import Stores
from keyturn.stores.protocols import KeyStore, StoredKey

T0 = 1_795_000_000.0


@pytest.fixture
def key_store(database_stores: Stores) -> KeyStore:
    return database_stores.keys


def cipher() -> KeyCipher:
    return KeyCipher(parse_master_key(new_master_key()))


def new_key(
    alg: str = "EdDSA", at: float = T0, *, activates_at: float | None = None,
    retired_at: float | None = None, revoked_at: float | None = None,
) -> StoredKey:
    return replace(generate(alg, cipher(), at)[0], activates_at=activates_at, retired_at=retired_at, revoked_at=revoked_at)


async def by_kid(store: KeyStore) -> dict[str, StoredKey]:
    return {k.kid: k for k in await store.list_keys()}


async def test_keys_come_back_exactly_oldest_first(key_store: KeyStore) -> None:
    newest = new_key("ES256", T0 + 2.5, activates_at=T0 + 32.5)
    oldest = new_key("EdDSA", T0, retired_at=T0 + 32.5)
    revoked = new_key("HS256", T0 + 1.25, retired_at=T0 + 3.0, revoked_at=T0 + 3.0)
    for k in (newest, oldest, revoked):
        await key_store.add_key(k)
    assert await key_store.list_keys() == [oldest, revoked, newest]


async def test_only_one_first_key_is_added(key_store: KeyStore) -> None:
    keys = [new_key() for _ in range(10)]
    added = await asyncio.gather(*(key_store.add_first_key(k) for k in keys))
    assert added.count(True) == 1
    assert len(await key_store.list_keys()) == 1


async def test_a_key_of_another_algorithm_does_not_count(key_store: KeyStore) -> None:
    assert await key_store.add_first_key(new_key("HS256"))
    assert await key_store.add_first_key(new_key("EdDSA"))
    assert not await key_store.add_first_key(new_key("EdDSA"))


async def test_a_retired_key_does_not_count(key_store: KeyStore) -> None:
    await key_store.add_key(new_key(retired_at=T0 + 1))
    assert await key_store.add_first_key(new_key())


async def test_retiring_the_others_leaves_earlier_retirements_alone(key_store: KeyStore) -> None:
    keep, other, retired = new_key(), new_key("ES256"), new_key(retired_at=T0 + 1)
    for k in (keep, other, retired):
        await key_store.add_key(k)
    assert await key_store.retire_keys_except(keep.kid, T0 + 5) == 1
    found = await by_kid(key_store)
    assert [found[k.kid].retired_at for k in (keep, other, retired)] == [None, T0 + 5, T0 + 1]


async def test_a_key_is_revoked_once(key_store: KeyStore) -> None:
    live, retired = new_key(), new_key(retired_at=T0 + 1)
    for k in (live, retired):
        await key_store.add_key(k)
    assert await key_store.revoke_key(live.kid, T0 + 5)
    assert not await key_store.revoke_key(live.kid, T0 + 6)
    assert not await key_store.revoke_key("no-such-kid", T0 + 6)
    assert await key_store.revoke_key(retired.kid, T0 + 7)
    found = await by_kid(key_store)
    # A revoked key is retired too; an earlier retirement stands.
    assert (found[live.kid].revoked_at, found[live.kid].retired_at) == (T0 + 5, T0 + 5)
    assert (found[retired.kid].revoked_at, found[retired.kid].retired_at) == (T0 + 7, T0 + 1)


async def test_replicas_starting_together_share_the_active_key(key_store: KeyStore) -> None:
    """The contract as ``KeySet`` uses it, under each engine's own
    concurrency: on the SQL engines the replicas really interleave."""
    c = cipher()
    sets = [KeySet(key_store, c, "EdDSA", publish_for=60) for _ in range(4)]
    await asyncio.gather(*(s.ensure_active(T0) for s in sets))
    assert len({s.active.kid for s in sets}) == 1
