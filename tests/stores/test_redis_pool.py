"""Redis connection pool: a burst larger than the pool queues briefly
instead of failing at once."""

from __future__ import annotations

import asyncio

from keyturn.stores.redis.sessions import RedisSessionStore, open_client
from tests.stores.conftest import unique_prefix


async def test_burst_larger_than_the_pool_waits_for_a_connection(redis_url: str) -> None:
    store = RedisSessionStore(open_client(redis_url, timeout=5.0, pool_size=4, pool_timeout=5.0),
                              prefix=unique_prefix(), timeout=5.0)
    try:
        answers = await asyncio.gather(*(store.get_session(f"nosuch{i}") for i in range(300)))
        assert answers == [None] * 300
    finally:
        await store.close()
