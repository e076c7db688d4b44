"""``python -m bench.guard_overhead [N] [PASSES] [--uvloop]``: what the store
guard (``keyturn.stores.guard.bounded``) adds to every store call — a trivial
coroutine awaited through it and directly, N calls each way per pass, CPU time
(``time.process_time``), passes interleaved; prints medians and min–max in µs
per call.  Not part of ``python -m bench``: a micro-benchmark for changing the
guard, where the refresh section is too coarse to see it."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

from keyturn.stores.guard import bounded


async def trivial() -> int:
    return 1


def never_lost(exc: BaseException) -> bool:
    return False


def runner(n: int) -> dict[str, Callable[[], Coroutine[Any, Any, None]]]:
    async def direct() -> None:
        for _ in range(n):
            await trivial()

    async def guarded() -> None:
        for _ in range(n):
            await bounded(trivial, store="bench", timeout=5.0, faults=(), connection_lost=never_lost)

    return {"direct": direct, "bounded": guarded}


async def measure(n: int, passes: int) -> dict[str, list[float]]:
    """µs per call, one value per pass and way."""
    ways = runner(n)
    got: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(passes):
        for name, way in ways.items():
            t0 = time.process_time()
            await way()
            got[name].append((time.process_time() - t0) / n * 1e6)
    got["overhead"] = [g - d for g, d in zip(got["bounded"], got["direct"])]
    return got


def main(argv: list[str]) -> None:
    numbers = [int(a) for a in argv if not a.startswith("--")]
    n, passes = (numbers + [100_000, 7][len(numbers):])[:2]
    if "--uvloop" in argv:
        import uvloop
        got = uvloop.run(measure(n, passes))
    else:
        got = asyncio.run(measure(n, passes))
    loop = "uvloop" if "--uvloop" in argv else "asyncio"
    print(f"{loop}, N={n}, {passes} interleaved passes, CPU µs per call:")
    for name, values in got.items():
        print(f"  {name:8s} median {statistics.median(values):.3f} [{min(values):.3f}–{max(values):.3f}]")


if __name__ == "__main__":
    main(sys.argv[1:])
