"""One conformance suite for the security stores, every engine."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest

from keyturn.errors import ClientNameTaken
from keyturn.stores.protocols import ResourceClient

NOW = 1_795_000_000.0


def fresh(prefix: str) -> str:
    # Unique per test, so shared databases need no cleanup between runs.
    return f"{prefix}:{secrets.token_hex(8)}"


async def test_counter_starts_at_one_and_grows(security_store: Any) -> None:
    key = fresh("c")
    assert (await security_store.increment(key, now=NOW, expires_at=NOW + 60)).count == 1
    c = await security_store.increment(key, now=NOW + 1, expires_at=NOW + 61)
    assert (c.count, c.last_at) == (2, NOW + 1)
    found = await security_store.counters([key, fresh("missing")], now=NOW + 2)
    assert list(found) == [key]
    assert found[key].count == 2


async def test_counter_restarts_after_expiry_and_reset(security_store: Any) -> None:
    key = fresh("c")
    await security_store.increment(key, now=NOW, expires_at=NOW + 10)
    await security_store.increment(key, now=NOW, expires_at=NOW + 10)
    assert await security_store.counters([key], now=NOW + 10) == {}
    assert (await security_store.increment(key, now=NOW + 11, expires_at=NOW + 20)).count == 1
    await security_store.reset(key)
    assert await security_store.counters([key], now=NOW + 12) == {}


async def test_concurrent_increments_are_all_counted(security_store: Any) -> None:
    key = fresh("c")
    await asyncio.gather(*(security_store.increment(key, now=NOW, expires_at=NOW + 60) for _ in range(10)))
    assert (await security_store.counters([key], now=NOW))[key].count == 10


async def test_racing_reservations_never_pass_the_limit(security_store: Any) -> None:
    key = fresh("r")
    taken = await asyncio.gather(
        *(security_store.reserve(key, limit=5, now=NOW, expires_at=NOW + 60) for _ in range(20))
    )
    assert sorted(c.count for c in taken if c is not None) == [1, 2, 3, 4, 5]
    assert taken.count(None) == 15
    assert (await security_store.counters([key], now=NOW))[key].count == 5


async def test_a_reservation_under_the_limit_is_never_refused_while_successes_reset(security_store: Any) -> None:
    """A login that succeeds resets the account's counter (deletes it) while
    others are reserving: a reservation below the limit must still be taken,
    never refused as if the account were locked (a spurious 429)."""
    key = fresh("r")
    stop = asyncio.Event()

    async def succeed_and_reset() -> None:
        while not stop.is_set():
            if await security_store.reserve(key, limit=10, now=NOW, expires_at=NOW + 60) is not None:
                await security_store.reset(key)
            await asyncio.sleep(0)

    resetters = [asyncio.create_task(succeed_and_reset()) for _ in range(3)]
    try:
        refused = 0
        for _ in range(60):
            taken = await security_store.reserve(key, limit=10, now=NOW, expires_at=NOW + 60)
            if taken is None:
                refused += 1
            else:
                await security_store.release(key, now=NOW)
    finally:
        stop.set()
        await asyncio.gather(*resetters)
    assert refused == 0  # at most 4 reservations were ever held at once, limit 10


async def test_a_released_reservation_frees_a_slot_and_expiry_restarts(security_store: Any) -> None:
    key = fresh("r")
    for _ in range(2):
        assert await security_store.reserve(key, limit=2, now=NOW, expires_at=NOW + 10) is not None
    assert await security_store.reserve(key, limit=2, now=NOW, expires_at=NOW + 10) is None
    await security_store.release(key, now=NOW)
    assert (await security_store.reserve(key, limit=2, now=NOW + 1, expires_at=NOW + 10)).count == 2
    await security_store.release(fresh("missing"), now=NOW)  # nothing to give back: no error, no row
    again = await security_store.reserve(key, limit=2, now=NOW + 10, expires_at=NOW + 20)
    assert again is not None and again.count == 1


async def test_denylist_entries_live_until_their_expiry(security_store: Any) -> None:
    a, b = fresh("s"), fresh("j")
    assert not await security_store.any_denied([a, b], now=NOW)
    await security_store.deny([a], now=NOW, expires_at=NOW + 30)
    assert await security_store.any_denied([a, b], now=NOW + 29)
    assert await security_store.any_denied([b, a], now=NOW + 29)
    assert not await security_store.any_denied([a], now=NOW + 30)


async def test_denylist_extends_and_never_shortens(security_store: Any) -> None:
    a = fresh("s")
    await security_store.deny([a], now=NOW, expires_at=NOW + 30)
    await security_store.deny([a], now=NOW + 1, expires_at=NOW + 10)
    assert await security_store.any_denied([a], now=NOW + 20)
    await security_store.deny([a, a], now=NOW + 2, expires_at=NOW + 100)
    assert await security_store.any_denied([a], now=NOW + 99)


async def test_replay_cache_admits_a_key_once(security_store: Any) -> None:
    key = fresh("dpop")
    assert await security_store.first_use(key, now=NOW, expires_at=NOW + 60)
    assert not await security_store.first_use(key, now=NOW + 1, expires_at=NOW + 61)
    assert await security_store.first_use(key, now=NOW + 60, expires_at=NOW + 120)


async def test_replay_cache_race_has_one_winner(security_store: Any) -> None:
    key = fresh("dpop")
    results = await asyncio.gather(*(security_store.first_use(key, now=NOW, expires_at=NOW + 60) for _ in range(10)))
    assert sorted(results) == [False] * 9 + [True]


async def test_purge_drops_only_expired_state(security_store: Any) -> None:
    live, dead = fresh("s"), fresh("s")
    await security_store.deny([live], now=NOW, expires_at=NOW + 100)
    await security_store.deny([dead], now=NOW, expires_at=NOW + 1)
    assert isinstance(await security_store.purge_security(now=NOW + 2), int)
    assert await security_store.any_denied([live], now=NOW + 2)
    assert not await security_store.any_denied([dead], now=NOW + 2)


async def test_resource_clients(client_store: Any) -> None:
    security_store = client_store
    name = fresh("svc")
    client = ResourceClient(fresh("kc")[:40], name, "sha256$" + "1" * 64, NOW)
    await security_store.add_client(client)
    assert await security_store.client_by_id(client.id) == client
    assert client in await security_store.list_clients()
    assert await security_store.client_by_id("kc_nobody") is None
    with pytest.raises(ClientNameTaken):
        await security_store.add_client(ResourceClient(fresh("kc")[:40], name, "x", NOW))
