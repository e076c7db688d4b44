""""The limit": in-process timings of what one refresh cannot avoid — one
access-token signature, one HMAC over the refresh secret, one store round
trip and one JSON encode.  Their sum is the floor a refresh is compared to."""

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
    """Best-of-5 seconds per call, each repeat sized to ~budget/5."""
    n, t = 1, 0.0
    while True:  # calibrate
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        t = time.perf_counter() - t0
        if t > 0.02:
            break
        n *= 4
    n = max(1, int(n * (budget / 5) / t))
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return best


async def per_op_async(fn: Callable[[], Awaitable[object]], n: int) -> float:
    for _ in range(min(200, n)):
        await fn()
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            await fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return best


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


async def _redis(url: str, n: int) -> float:
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


async def _sqlite(path: Path, n: int) -> float:
    import aiosqlite

    async with aiosqlite.connect(path) as db:
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.execute("CREATE TABLE s (id TEXT PRIMARY KEY, gen INTEGER, used REAL)")
        await db.executemany("INSERT INTO s VALUES (?, 0, 0)", [(f"s{i}",) for i in range(1000)])
        await db.commit()

        async def once() -> None:
            await db.execute("UPDATE s SET gen = gen + 1, used = ? WHERE id = ?", (time.time(), "s500"))
            await db.commit()
        return await per_op_async(once, n)


async def _postgres(dsn: str, n: int) -> float:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TABLE s (id TEXT PRIMARY KEY, gen INTEGER, used DOUBLE PRECISION)")
        await conn.executemany("INSERT INTO s VALUES ($1, 0, 0)", [(f"s{i}",) for i in range(1000)])
        stmt = await conn.prepare("UPDATE s SET gen = gen + 1, used = $1 WHERE id = $2")

        async def once() -> None:
            await stmt.fetch(time.time(), "s500")
        return await per_op_async(once, n)
    finally:
        await conn.close()


def _loop_run(coro: Awaitable[float]) -> float:
    try:
        import uvloop
        return uvloop.run(coro)  # type: ignore[arg-type]
    except ImportError:
        return asyncio.run(coro)  # type: ignore[arg-type]


def run(env: Env, quick: bool, pg_db: str | None) -> dict[str, Any]:
    """All per-operation costs (seconds) and the floor per keyturn variant."""
    from bench import systems

    budget = 0.25 if quick else 1.0
    n = 500 if quick else 3000
    ops: dict[str, Any] = _crypto(budget)
    notes: list[str] = []
    try:
        ops["redis_evalsha_cas"] = _loop_run(_redis(env.redis_url, n))
    except Exception as exc:  # noqa: BLE001
        notes.append(f"Redis round trip not measured: {exc}")
    ops["sqlite_update_commit"] = _loop_run(_sqlite(env.tmp / f"floor-{os.getpid()}.db", n))
    try:
        db = pg_db or systems.pg_create(env, "floor")
        ops["postgres_update"] = _loop_run(_postgres(f"postgresql://postgres@127.0.0.1:5432/{db}", n))
    except Exception as exc:  # noqa: BLE001
        notes.append(f"PostgreSQL round trip not measured: {exc}")
    store = {"sqlite": "sqlite_update_commit", "postgres": "postgres_update", "redis": "redis_evalsha_cas"}
    floors: dict[str, float] = {}
    for s in systems.SYSTEMS:
        if s.kind != "keyturn" or store[s.db] not in ops:
            continue
        sig = ops["sign_eddsa" if s.name.endswith("eddsa") else "sign_hs256"]
        floors[s.name] = sig + ops["hmac_sha256_64B"] + ops[store[s.db]] + ops["orjson_answer"]
    for k, v in ops.items():
        print(f"  {k:22s} {v * 1e6:9.2f} us")
    return {"ops_s": ops, "floor_s": floors, "notes": notes,
            "store_for": store}
