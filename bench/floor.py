""""The limit": in-process timings of what one refresh cannot avoid — one
access-token signature, one HMAC over the refresh secret, one store round
trip and one JSON encode — measured once per interleaved pass of the refresh
section.  Added to the bare-Starlette ceiling's CPU per request from the same
pass, they make the floor including HTTP that a refresh is compared to."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.systems import Env

CLAIMS = {"iss": "keyturn", "aud": "keyturn", "sub": "0190f6f2-6b8e-7c3a-9d1e-2f4a5b6c7d8e",
          "sid": "0190f6f2-6b8e-7c3a-9d1e-aaaaaaaaaaaa", "iat": 1_700_000_000, "exp": 1_700_001_800,
          "jti": "0190f6f2-6b8e-7c3a-9d1e-bbbbbbbbbbbb"}
ANSWER = {"access_token": "a" * 330, "token_type": "Bearer", "expires_in": 1800,
          "refresh_token": "krt_" + "r" * 64, "refresh_expires_in": 172800}
CAS = """
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'EX', 172800) return 1 end
return 0
"""


def per_op(fn: Callable[[], object], budget: float) -> float:
    """Best-of-5 CPU seconds (of the calling thread) per call, each repeat
    sized to ~budget/5.  CPU, not wall time: on a shared machine wall time
    counts the moments other work held the core, and the floor is compared
    with server CPU."""
    n, t = 1, 0.0
    while True:  # calibrate
        t0 = time.thread_time()
        for _ in range(n):
            fn()
        t = time.thread_time() - t0
        if t > 0.02:
            break
        n *= 4
    n = max(1, int(n * (budget / 5) / t))
    best = float("inf")
    for _ in range(5):
        t0 = time.thread_time()
        for _ in range(n):
            fn()
        best = min(best, (time.thread_time() - t0) / n)
    return best


async def per_op_async(fn: Callable[[], Awaitable[object]], n: int) -> tuple[float, float]:
    """Best-of-5 (wall, process CPU) seconds per awaited call.  The CPU side
    is what the calling process spends (driver, event loop, aiosqlite's
    thread), the part of a round trip that lands in a server's CPU."""
    for _ in range(min(200, n)):
        await fn()
    best, best_cpu = float("inf"), float("inf")
    for _ in range(5):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(n):
            await fn()
        best = min(best, (time.perf_counter() - t0) / n)
        best_cpu = min(best_cpu, (time.process_time() - c0) / n)
    return best, best_cpu


def _crypto(budget: float) -> dict[str, float]:
    import jwt
    import orjson
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    ed = Ed25519PrivateKey.generate()
    hs = secrets.token_bytes(32)
    msg, key = secrets.token_bytes(64), secrets.token_bytes(32)
    return {
        "sign_eddsa": per_op(lambda: jwt.encode(CLAIMS, ed, algorithm="EdDSA"), budget),
        "sign_hs256": per_op(lambda: jwt.encode(CLAIMS, hs, algorithm="HS256"), budget),
        "sha256_64B": per_op(lambda: hashlib.sha256(msg).digest(), budget),
        "hmac_sha256_64B": per_op(lambda: hmac.digest(key, msg, "sha256"), budget),
        "orjson_answer": per_op(lambda: orjson.dumps(ANSWER), budget),
    }


async def _redis(url: str, n: int) -> tuple[float, float]:
    import redis.asyncio as aioredis

    r = aioredis.from_url(url)
    try:
        sha = await r.script_load(CAS)
        await r.set("floor:k", "v0")
        state = {"v": "v0", "i": 0}

        async def once() -> None:
            state["i"] += 1
            new = f"v{state['i']}"
            assert await r.evalsha(sha, 1, "floor:k", state["v"], new) == 1
            state["v"] = new
        return await per_op_async(once, n)
    finally:
        await r.delete("floor:k")
        await r.aclose()


async def _sqlite(path: Path, n: int) -> tuple[float, float]:
    import aiosqlite

    async with aiosqlite.connect(path) as db:
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.execute("DROP TABLE IF EXISTS s")
        await db.execute("CREATE TABLE s (id TEXT PRIMARY KEY, gen INTEGER, used REAL)")
        await db.executemany("INSERT INTO s VALUES (?, 0, 0)", [(f"s{i}",) for i in range(1000)])
        await db.commit()

        async def once() -> None:
            await db.execute("UPDATE s SET gen = gen + 1, used = ? WHERE id = ?", (time.time(), "s500"))
            await db.commit()
        return await per_op_async(once, n)


async def _postgres(dsn: str, n: int) -> tuple[float, float]:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DROP TABLE IF EXISTS s")
        await conn.execute("CREATE TABLE s (id TEXT PRIMARY KEY, gen INTEGER, used DOUBLE PRECISION)")
        await conn.executemany("INSERT INTO s VALUES ($1, 0, 0)", [(f"s{i}",) for i in range(1000)])
        stmt = await conn.prepare("UPDATE s SET gen = gen + 1, used = $1 WHERE id = $2")

        async def once() -> None:
            await stmt.fetch(time.time(), "s500")
        return await per_op_async(once, n)
    finally:
        await conn.close()


def _loop_run(coro: Awaitable[tuple[float, float]]) -> tuple[float, float]:
    try:
        import uvloop
        return uvloop.run(coro)  # type: ignore[arg-type]
    except ImportError:
        return asyncio.run(coro)  # type: ignore[arg-type]


# Which measured round trip is "one store round trip" for a keyturn variant.
STORE_OP = {"sqlite": "sqlite_update_commit", "postgres": "postgres_update", "redis": "redis_evalsha_cas"}


def measure(env: Env, quick: bool, pg_db: str | None, core: int | None = None) -> dict[str, float]:
    """One pass of every per-operation cost, in seconds.  Store round trips
    give both client wall time (``*_wall``) and the client's CPU (the key
    without suffix), since the floor is compared with server CPU.  Runs
    pinned to ``core`` (the server core) when given, so both sides of a
    ratio ran on the same core."""
    budget = 0.2 if quick else 0.6
    n = 400 if quick else 1500
    saved = os.sched_getaffinity(0)
    if core is not None:
        os.sched_setaffinity(0, {core})
    try:
        ops: dict[str, float] = _crypto(budget)
        stores: list[tuple[str, Callable[[], Awaitable[tuple[float, float]]]]] = [
            ("redis_evalsha_cas", lambda: _redis(env.redis_url, n)),
            ("sqlite_update_commit", lambda: _sqlite(env.tmp / f"floor-{os.getpid()}.db", n)),
        ]
        if pg_db is not None:
            stores.append(("postgres_update", lambda: _postgres(f"postgresql://postgres@127.0.0.1:5432/{pg_db}", n)))
        for name, make in stores:
            try:
                ops[name + "_wall"], ops[name] = _loop_run(make())
            except Exception as exc:  # noqa: BLE001 - a missing store only removes its floor
                print(f"  floor: {name} not measured: {type(exc).__name__}: {exc}"[:200], flush=True)
    finally:
        os.sched_setaffinity(0, saved)
    return ops


def floor_of(ops: dict[str, float], db: str, alg: str, http_s: float) -> float | None:
    """Floor incl. HTTP = ceiling CPU per request + signature + HMAC + one
    store round trip (client CPU) + JSON encode; None if a part is missing."""
    store = ops.get(STORE_OP.get(db, ""))
    if store is None:
        return None
    sig = ops["sign_eddsa" if alg == "EdDSA" else "sign_hs256"]
    return http_s + sig + ops["hmac_sha256_64B"] + store + ops["orjson_answer"]
