"""Round trips to the session store per refresh, per engine, warm (the
replica has the session's immutable facts cached) and cold (a replica that
has never seen the session). Counted at a TCP proxy in front of the store:
each client→server burst is one round trip.

    PYTHONPATH=. python bench/roundtrips.py
"""

from __future__ import annotations

import asyncio
import os
import sys
from urllib.parse import urlsplit

from keyturn.clock import FrozenClock
from keyturn.config import Settings
from keyturn.service.masterkey import new_master_key
from keyturn.service.wiring import build_runtime
from tests.stores.backends import MYSQL_URL, POSTGRES_URL, REDIS_URL, create_database, drop_database
from tests.stores.proxy import FaultProxy

FAST = {"argon2_time_cost": 1, "argon2_memory_cost": 1024, "argon2_parallelism": 1}


def via(url: str, port: int) -> str:
    p = urlsplit(url)
    user = p.netloc.rpartition("@")[0]
    return p._replace(netloc=(user + "@" if user else "") + f"127.0.0.1:{port}").geturl()


async def measure(name: str, url: str) -> None:
    target = urlsplit(url)
    proxy = FaultProxy(target.hostname or "127.0.0.1", target.port or 0)
    await proxy.start()
    key = new_master_key()
    is_redis = url.startswith("redis")
    common = dict(master_key=key, redis_key_prefix=f"kt-bench-{os.getpid()}", **FAST)
    if is_redis:
        settings = Settings(database_url="memory:", session_store_url=via(url, proxy.port), **common)
    else:
        settings = Settings(database_url=via(url, proxy.port), **common)
    clock = FrozenClock()
    a = build_runtime(settings, clock=clock)
    await a.start()
    b = build_runtime(settings, clock=clock, stores=a.stores)  # a second replica: same stores, cold caches
    await b.start()
    svc = a.service
    try:
        await svc.create_user(f"bench{os.getpid()}", "correct horse battery staple")
    except Exception:
        pass
    pair = await svc.login(f"bench{os.getpid()}", "correct horse battery staple", ip="203.0.113.7", user_agent="b")
    pair = await svc.refresh(pair.refresh_token, ip="203.0.113.7", user_agent="b")  # warm every cache
    results = {}
    for label, service in (("warm", a.service), ("cold", b.service)):
        clock.advance(1)
        before = proxy.requests
        pair = await service.refresh(pair.refresh_token, ip="203.0.113.7", user_agent="b")
        results[label] = proxy.requests - before
    print(f"{name:14} warm {results['warm']}  cold {results['cold']}")
    if is_redis:
        async for k in a.stores.sessions.client.scan_iter(match=f"{settings.redis_key_prefix}:*"):
            await a.stores.sessions.client.delete(k)
    await a.close()
    await proxy.close()


async def main() -> None:
    engines = {"postgresql": POSTGRES_URL, "mariadb": MYSQL_URL, "redis": REDIS_URL}
    for name in sys.argv[1:] or list(engines):
        admin = engines[name]
        if name == "redis":
            await measure(name, admin)
            continue
        fresh = await asyncio.to_thread(create_database, admin)
        try:
            await measure(name, fresh)
        finally:
            await asyncio.to_thread(drop_database, admin, fresh)


if __name__ == "__main__":
    asyncio.run(main())
