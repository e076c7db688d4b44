"""Scale: what a live session costs in Redis memory, and whether refresh
latency moves when the store holds many more sessions.

Bytes per session: a fresh private redis-server, 1,000 sessions created with
keyturn's own session store API (8 sessions a user, 64-byte user agents),
then the sum of ``MEMORY USAGE key SAMPLES 0`` over every key under the
store's prefix ÷ sessions: each session's keys (the owner pointer included)
plus its share of the per-user structures (the user's session hash),
whatever the layout; also split by Redis type.

Flatness: two stores side by side, one with 10³ live sessions and one with
many more (10⁶ in the full run), each served by its own keyturn worker; the
refresh p99 at c=16 is measured on both in at least five interleaved passes
(a p99 of a few seconds' run is the most noise-prone figure here) and
compared per pass.  Redis sessions are created through the store API; PostgreSQL rows
are COPYed into keyturn's own sessions table (its schema module names the
columns), since a million inserts through the API would not fit the budget."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

from bench import stats, util
from bench.refresh import run_wrk
from bench.systems import BY_NAME, Env, Unavailable, chains, keyturn_env, own_redis, start_keyturn

SMALL = 1_000
PER_USER = 8
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0 bench"[:64].ljust(64, "x")


def _session(uid: str, now: float) -> Any:
    from keyturn.core import refresh as rt
    from keyturn.core.sessions import Session

    return Session(id=rt.new_session_id(), user_id=uid, salt=rt.new_salt(), created_at=now,
                   absolute_expires_at=now + 2_592_000, idle_expires_at=now + 172_800, rotated_at=now,
                   last_used_at=now, login_ip="203.0.113.7", user_agent=UA, last_ip="203.0.113.7",
                   last_user_agent=UA)


def _uid() -> str:
    from keyturn.core import refresh as rt
    return rt.b64encode(secrets.token_bytes(12))


def grow_redis(url: str, prefix: str, target: int, budget_s: float = 600.0, concurrency: int = 256) -> int:
    """Create ``target`` live sessions, ``PER_USER`` a user, through keyturn's
    Redis session store (what a login does); stops early at ``budget_s``
    and returns how many it made."""
    from keyturn.config import Settings
    from keyturn.stores.open import open_stores

    async def main() -> int:
        stores = open_stores(Settings(database_url="memory://", session_store_url=url, pool_size=256,
                                      store_timeout=30, redis_key_prefix=prefix))
        store = stores.sessions
        now = time.time()
        made = 0

        async def user(n: int) -> None:
            nonlocal made
            uid = _uid()
            for _ in range(n):
                await store.create_session(_session(uid, now), max_sessions=0, now=now)
                made += 1

        end = time.monotonic() + budget_s
        try:
            users = [min(PER_USER, target - i) for i in range(0, target, PER_USER)]
            for start in range(0, len(users), concurrency):
                if time.monotonic() > end:
                    break
                await asyncio.gather(*(user(n) for n in users[start:start + concurrency]))
        finally:
            await stores.close()
        return made

    try:
        import uvloop
        return uvloop.run(main())
    except ImportError:
        return asyncio.run(main())


def grow_parallel(url: str, prefix: str, target: int, budget_s: float = 600.0) -> int:
    """``grow_redis`` split over one process per core (the client side, not
    Redis, is what limits the rate)."""
    from concurrent.futures import ProcessPoolExecutor

    if target < 20_000 or util.NCPU < 2:
        return grow_redis(url, prefix, target, budget_s)
    half = (target // 2) // PER_USER * PER_USER
    with ProcessPoolExecutor(2) as ex:
        parts = [ex.submit(grow_redis, url, prefix, half, budget_s),
                 ex.submit(grow_redis, url, prefix, target - half, budget_s)]
        return sum(f.result() for f in parts)


def _used_memory(port: int) -> int:
    import redis

    r = redis.Redis(host="127.0.0.1", port=port)
    try:
        return int(r.info("memory")["used_memory"])
    finally:
        r.close()


def redis_bytes(port: int, prefix: str) -> dict[str, Any]:
    """Sum of MEMORY USAGE over every key under ``prefix`` ÷ sessions, for
    ``SMALL`` sessions made on an otherwise empty server."""
    import redis

    r = redis.Redis(host="127.0.0.1", port=port)
    try:
        made = grow_redis(f"redis://127.0.0.1:{port}/0", prefix, SMALL)
        keys = list(r.scan_iter(match=f"{prefix}:*", count=1000))
        pipe = r.pipeline(transaction=False)
        for k in keys:
            pipe.memory_usage(k, samples=0)
            pipe.type(k)
        replies = pipe.execute()
        by_type: dict[str, int] = {}
        for used, kind in zip(replies[0::2], replies[1::2], strict=True):
            name = kind.decode() if isinstance(kind, bytes) else str(kind)
            by_type[name] = by_type.get(name, 0) + int(used or 0)
        total = sum(by_type.values())
        for i in range(0, len(keys), 1000):
            r.delete(*keys[i:i + 1000])
    finally:
        r.close()
    return {"sessions": made, "keys": len(keys), "memory_usage_sum": total,
            "bytes_per_session": total / max(made, 1), "keys_per_session": len(keys) / max(made, 1),
            "bytes_per_session_by_type": {k: v / max(made, 1) for k, v in sorted(by_type.items())}}


def grow_postgres(db: str, target: int) -> int:
    """COPY ``target`` live sessions (``PER_USER`` a user) into keyturn's
    sessions table, columns as keyturn's schema module declares them."""
    import dataclasses

    import psycopg

    from keyturn.stores.sql.schema import sessions

    now = time.time()
    cols = [c.name for c in sessions.columns]
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={db}") as conn, conn.cursor() as cur:
        with cur.copy(f"COPY {sessions.name} ({', '.join(cols)}) FROM STDIN") as cp:
            uid = _uid()
            for i in range(target):
                if i % PER_USER == 0:
                    uid = _uid()
                row = dataclasses.asdict(_session(uid, now))
                cp.write_row([row.get(c) for c in cols])
        conn.commit()
    return target


def _p99_passes(env: Env, sides: dict[str, str], passes: int, secs: float) -> dict[str, list[dict[str, Any]]]:
    """Refresh at c=16 on each side (name → base URL), interleaved."""
    s = BY_NAME["keyturn-redis-eddsa"]

    def arm(name: str, base: str) -> Any:
        return lambda i: run_wrk(s, base, chains(s, base, 16, f"{name}{i}"), secs, env.tmp)

    return stats.interleave(passes, {name: arm(name, base) for name, base in sides.items()})


def _flatness(out: dict[str, Any], got: dict[str, list[dict[str, Any]]], large: int) -> None:
    out["small_runs"], out["large_runs"] = got["small"], got["large"]
    out["p99_ratio"] = stats.ratio([r["p99_us"] for r in got["large"]], [r["p99_us"] for r in got["small"]]).as_dict()
    sp = stats.from_dict(out["p99_ratio"])
    assert sp is not None
    print(f"  p99 at {large:,} ÷ at {SMALL:,} sessions: {sp.text()}", flush=True)


def run_redis(env: Env, quick: bool, passes: int) -> dict[str, Any]:
    large = 30_000 if quick else 1_000_000
    out: dict[str, Any] = {"small": SMALL, "large": large}
    procs: list[util.Proc] = []
    try:
        with own_redis(env.tmp) as (_, p_small), own_redis(env.tmp) as (_, p_large):
            out["memory"] = redis_bytes(p_small, "ktmem")
            m = out["memory"]
            split = ", ".join(f"{k} {v:.0f}" for k, v in m["bytes_per_session_by_type"].items())
            print(f"  redis: {m['bytes_per_session']:.0f} B/session by MEMORY USAGE ({m['keys_per_session']:.2f} keys "
                  f"a session; {split})", flush=True)
            sides = {}
            for name, port, n in (("small", p_small, SMALL), ("large", p_large, large)):
                t0, m0 = time.monotonic(), _used_memory(port)
                made = grow_parallel(f"redis://127.0.0.1:{port}/0", "kt", n, 90 if quick else 600)
                out[name] = made
                out[f"{name}_used_memory_per_session"] = (_used_memory(port) - m0) / max(made, 1)
                print(f"  redis {name}: {made:,} sessions in {time.monotonic() - t0:.0f} s, used_memory "
                      f"+{out[f'{name}_used_memory_per_session']:.0f} B a session", flush=True)
                local = Env(env.tmp, port, env.pg_dbs)
                hp = util.free_port()
                procs.append(start_keyturn(local, hp, keyturn_env(local, "redis", "EdDSA"), f"keyturn-scale-{name}"))
                sides[name] = f"http://127.0.0.1:{hp}"
            _flatness(out, _p99_passes(env, sides, max(passes, 5), 3 if quick else 5), out["large"])
    except Unavailable as exc:
        out["unavailable"] = str(exc)
        print(f"  scale/redis: not available — {exc}", flush=True)
    except Exception as exc:  # noqa: BLE001
        out["failed"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        print(f"  scale/redis: FAILED {out['failed']}", flush=True)
    finally:
        for p in procs:
            util.stop(p)
    return out


def run_postgres(env: Env, quick: bool, passes: int) -> dict[str, Any]:
    large = 100_000 if quick else 1_000_000
    out: dict[str, Any] = {"small": SMALL, "large": large}
    procs: list[util.Proc] = []
    try:
        sides = {}
        for name, n in (("small", SMALL), ("large", large)):
            kenv = keyturn_env(env, "postgres", "EdDSA")
            hp = util.free_port()
            procs.append(start_keyturn(env, hp, kenv, f"keyturn-scale-pg-{name}"))  # migrates the schema
            db = kenv["KEYTURN_DATABASE_URL"].rsplit("/", 1)[1]
            t0 = time.monotonic()
            grow_postgres(db, n)
            print(f"  postgres {name}: {n:,} sessions in {time.monotonic() - t0:.0f} s", flush=True)
            sides[name] = f"http://127.0.0.1:{hp}"
            if name == "large":
                import psycopg

                from keyturn.stores.sql.schema import sessions as table_
                table = table_.name
                with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={db}", autocommit=True) as c:
                    c.execute(f"VACUUM ANALYZE {table}")
                    size = c.execute("SELECT pg_total_relation_size(%s)", (table,)).fetchone()
                out["bytes_per_session"] = (size[0] if size else 0) / n
        _flatness(out, _p99_passes(env, sides, max(passes, 5), 3 if quick else 5), large)
    except Unavailable as exc:
        out["unavailable"] = str(exc)
        print(f"  scale/postgres: not available — {exc}", flush=True)
    except Exception as exc:  # noqa: BLE001
        out["failed"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        print(f"  scale/postgres: FAILED {out['failed']}", flush=True)
    finally:
        for p in procs:
            util.stop(p)
    return out


def run(env: Env, quick: bool, passes: int) -> dict[str, Any]:
    return {"redis": run_redis(env, quick, passes), "postgres": run_postgres(env, quick, passes)}
