"""Scale: what a live session costs in Redis memory and PostgreSQL bytes, and
whether refresh latency moves when the store holds many more sessions.

Redis sessions are created through keyturn's own store API
(``RedisSessionStore.create_session``, the script a login runs, one user per
session), so the numbers include every key keyturn keeps per session (hash,
per-user sorted set, owner pointer); PostgreSQL sessions through HTTP login."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from bench import util
from bench.refresh import run_wrk, wrk
from bench.systems import (BY_NAME, PASSWORD, Env, Unavailable, chains, keyturn_env, own_redis,
                           start_keyturn)

STATIC = util.BENCH / "static.lua"
USERS = 100


def _redis_used(port: int) -> int:
    import redis
    r = redis.Redis(host="127.0.0.1", port=port)
    try:
        return int(r.info("memory")["used_memory"])
    finally:
        r.close()


def _grow(env: Env, base: str, target: int, tag: str, budget_s: float) -> int:
    """Log in until ``target`` sessions were created or the time budget ends."""
    body = env.tmp / f"grow-{tag}.json"
    body.write_text(json.dumps({"username": f"{tag}{{user}}", "password": PASSWORD}))
    with httpx.Client(base_url=base, timeout=30) as c:
        for i in range(USERS):
            c.post("/auth/register", json={"username": f"{tag}{i}", "password": PASSWORD})
    made, end = 0, time.monotonic() + budget_s
    rate = 500.0
    while made < target and time.monotonic() < end:
        secs = max(1.0, min((target - made) / rate, end - time.monotonic(), 20.0))
        res = wrk(STATIC, base, 4, secs, {"STATIC_BODY_FILE": str(body), "STATIC_USERS": str(USERS)},
                  env.tmp / f"grow-{tag}.out")
        made += res["ok"]
        rate = max(50.0, res["ok"] / max(res["duration_us"] / 1e6, 0.1))
        if res["ok"] == 0:
            raise RuntimeError(f"login made no sessions ({res['errors']} errors)")
    return made


def _grow_store(redis_url: str, target: int, concurrency: int = 200) -> int:
    """Create ``target`` live sessions with keyturn's Redis store API."""
    import asyncio
    import secrets as _secrets

    from keyturn.config import Settings
    from keyturn.core import refresh as rt
    from keyturn.core.sessions import Session
    from keyturn.stores.redis.sessions import RedisSessionStore

    async def main() -> int:
        store = RedisSessionStore.from_settings(
            Settings(database_url="memory://", pool_size=256, store_timeout=30), redis_url
        )
        now = time.time()
        made = 0

        async def one() -> None:
            nonlocal made
            uid = rt.b64encode(_secrets.token_bytes(12))
            s = Session(id=rt.new_session_id(), user_id=uid, salt=rt.new_salt(), created_at=now,
                        absolute_expires_at=now + 2_592_000, idle_expires_at=now + 172_800, rotated_at=now,
                        last_used_at=now, login_ip="203.0.113.7", user_agent="Mozilla/5.0 (X11; Linux) bench",
                        last_ip="203.0.113.7", last_user_agent="Mozilla/5.0 (X11; Linux) bench")
            await store.create_session(s, max_sessions=0, now=now)
            made += 1

        try:
            for start in range(0, target, concurrency):
                await asyncio.gather(*(one() for _ in range(min(concurrency, target - start))))
        finally:
            await store.close()
        return made

    return asyncio.run(main())


def _p(env: Env, base: str, tag: str, secs: float, rounds: int = 3) -> dict[str, Any]:
    """Refresh latency at c=16; the median of ``rounds`` runs, since one
    short run's p99 swings with machine noise."""
    s = BY_NAME["keyturn-redis-eddsa"]
    runs = [run_wrk(s, base, chains(s, base, 16, f"{tag}{i}"), secs, env.tmp) for i in range(rounds)]
    out: dict[str, Any] = {"ok": sum(r["ok"] for r in runs), "errors": sum(r["errors"] for r in runs)}
    for key in ("p50_us", "p99_us"):
        out[key] = sorted(r[key] for r in runs)[len(runs) // 2]
    out["p99_runs_us"] = [r["p99_us"] for r in runs]
    return out


def run_redis(env: Env, quick: bool) -> dict[str, Any]:
    small, large = 1_000, (100_000 if quick else 1_000_000)
    out: dict[str, Any] = {"small": small, "large": large,
                           "method": "keyturn's store API (the login script), own redis-server"}
    proc = None
    with own_redis(env.tmp) as (_, port):
        local = Env(env.tmp, port, env.pg_dbs)
        p = util.free_port()
        base = f"http://127.0.0.1:{p}"
        try:
            proc = start_keyturn(local, p, keyturn_env(local, "redis", "EdDSA"), "keyturn-scale-redis")
            m0 = _redis_used(port)
            n1 = _grow_store(local.redis_url, small)
            out["refresh_small"] = _p(local, base, "s", 2 if quick else 5)
            m1 = _redis_used(port)
            n2 = n1 + _grow_store(local.redis_url, large - n1)
            m2 = _redis_used(port)
            out["refresh_large"] = _p(local, base, "l", 2 if quick else 5)
            out.update({"sessions": n2, "used_memory_delta": m2 - m0,
                        "bytes_per_session": (m2 - m1) / max(n2 - n1, 1)})
            print(f"  redis: {out['bytes_per_session']:.0f} B/session over {n2} sessions; "
                  f"p99 {out['refresh_small']['p99_us'] / 1000:.2f} ms @ {n1} vs "
                  f"{out['refresh_large']['p99_us'] / 1000:.2f} ms @ {n2}", flush=True)
        except Unavailable as exc:
            out["unavailable"] = str(exc)
            print(f"  scale/redis: not available — {exc}", flush=True)
        except Exception as exc:  # noqa: BLE001
            out["failed"] = f"{type(exc).__name__}: {str(exc)[:300]}"
            print(f"  scale/redis: FAILED {out['failed']}", flush=True)
        finally:
            util.stop(proc)
    return out


def run_postgres(env: Env, quick: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    p = util.free_port()
    base = f"http://127.0.0.1:{p}"
    proc = None
    try:
        kenv = keyturn_env(env, "postgres", "EdDSA")
        proc = start_keyturn(env, p, kenv, "keyturn-scale-pg")
        made = _grow(env, base, 2_000 if quick else 20_000, "pg", 60 if quick else 300)
        import psycopg
        db = kenv["KEYTURN_DATABASE_URL"].rsplit("/", 1)[1]
        with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={db}") as c:
            tables = [r[0] for r in c.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema='public' "
                "AND table_name ILIKE '%session%' AND table_name NOT ILIKE '%event%'").fetchall()]
            if not tables:
                raise RuntimeError("no sessions table found")
            t = sorted(tables, key=len)[0]
            rows = c.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]  # type: ignore[index]
            size = c.execute("SELECT pg_total_relation_size(%s)", (t,)).fetchone()[0]  # type: ignore[index]
        out.update({"table": t, "rows": rows, "total_relation_size": size,
                    "bytes_per_session": size / max(rows, 1), "created": made})
        print(f"  postgres: {out['bytes_per_session']:.0f} B/session ({t}, {rows} rows)", flush=True)
    except Unavailable as exc:
        out["unavailable"] = str(exc)
        print(f"  scale/postgres: not available — {exc}", flush=True)
    except Exception as exc:  # noqa: BLE001
        out["failed"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        print(f"  scale/postgres: FAILED {out['failed']}", flush=True)
    finally:
        util.stop(proc)
    return out


def run(env: Env, quick: bool) -> dict[str, Any]:
    return {"redis": run_redis(env, quick), "postgres": run_postgres(env, quick)}
