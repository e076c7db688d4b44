"""Client CPU per Redis call, N concurrent EVALSHA calls, with and without
auto-pipelining (``keyturn.stores.redis.pipelining``), against a private
redis-server on a loopback port.

Two shapes: ``script`` (the registered script called directly) and ``store``
(``RedisSecurityStore.first_use``: one EVALSHA behind the store guard, as a
request makes it). Passes alternate plain / pipelined; each figure is the
median over passes. Only ratios mean something on a shared machine.

    PYTHONPATH=. python bench/pipelining.py [--concurrency 64] [--passes 5]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.systems import own_redis
from keyturn.stores.redis.security import _FIRST_USE, RedisSecurityStore
from keyturn.stores.redis.sessions import open_client

Call = Callable[[int], Awaitable[Any]]


def calls(client: Any, shape: str) -> Call:
    prefix = f"kt-bench-{secrets.token_hex(4)}"
    if shape == "script":
        script = client.register_script(_FIRST_USE)
        return lambda i: script(keys=[f"{prefix}:jti:{i}"], args=["0", "1", "60000"])
    store = RedisSecurityStore(client, prefix=prefix, timeout=5.0)
    return lambda i: store.first_use(str(i), now=0.0, expires_at=60.0)


async def cpu_per_call(call: Call, concurrency: int, rounds: int) -> tuple[float, float]:
    """(CPU µs, wall µs) per call over ``rounds`` bursts of ``concurrency`` calls."""
    await asyncio.gather(*(call(i) for i in range(concurrency)))  # warm: connections open, script loaded
    cpu, wall = time.process_time(), time.perf_counter()
    for r in range(rounds):
        await asyncio.gather(*(call(r * concurrency + i) for i in range(concurrency)))
    n = rounds * concurrency
    return (time.process_time() - cpu) / n * 1e6, (time.perf_counter() - wall) / n * 1e6


async def measure(url: str, concurrency: int, rounds: int, passes: int) -> None:
    for shape in ("script", "store"):
        seen: dict[str, list[tuple[float, float]]] = {"plain": [], "pipelined": []}
        for _ in range(passes):
            for mode in seen:
                wrapped = open_client(url, timeout=5.0, pool_size=max(64, concurrency))
                client = wrapped.client if mode == "plain" else wrapped
                try:
                    seen[mode].append(await cpu_per_call(calls(client, shape), concurrency, rounds))
                finally:
                    await wrapped.aclose()
        med = {m: (statistics.median(c for c, _ in v), statistics.median(w for _, w in v)) for m, v in seen.items()}
        (pc, pw), (ac, aw) = med["plain"], med["pipelined"]
        print(f"{shape:6} N={concurrency:<4} CPU/call plain {pc:7.1f} µs  pipelined {ac:7.1f} µs  "
              f"ratio {pc / ac:4.2f}x   wall/call ratio {pw / aw:4.2f}x   ({passes} passes)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--concurrency", type=int, nargs="+", default=[64])
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--passes", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, own_redis(Path(tmp)) as (_, port):
        for n in args.concurrency:
            asyncio.run(measure(f"redis://127.0.0.1:{port}/0", n, args.rounds, args.passes))


if __name__ == "__main__":
    main()
