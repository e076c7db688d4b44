"""Logins beside refreshes, with keyturn's default argon2 parameters.

One keyturn worker (Redis sessions, EdDSA) pinned to the server core.  Each
interleaved pass runs: refreshes alone (c=16 chains); the same refreshes while
100 clients keep logging in (then the worker is left to finish the logins wrk
gave up on); logins alone at a concurrency just above the hashing slots (a
fixed batch, timed to its last answer).

The 100 are people, not one guesser: the login throttle (per account and per
address, which would answer all but 20 of them from 127.0.0.1 with 429) is
lifted on the measured worker so that every login reaches the hashing queue,
and like keyturn's clients they wait out a refusal's Retry-After (login.lua)
instead of asking again at once.

The ratio is refresh p99 with logins ÷ without, per pass; login throughput per
core is logins per second of the one pinned worker when logins run alone, and
also per CPU-second it spent."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from bench import stats, util
from bench.refresh import run_wrk, wrk_start, wrk_wait
from bench.systems import (BY_NAME, CHEAP_ARGON2, PASSWORD, Env, Unavailable, chains, keyturn_env,
                           start_keyturn)

LOGIN_LUA = util.BENCH / "login.lua"
LOGINS = 100
REFRESH_C = 16
ALONE_C = 4  # logins alone: as many at once as keyturn has hashing slots
ALONE_N = 8
# The measured worker's login throttle, out of the way of 100 people logging in from one address.
UNTHROTTLED = {"KEYTURN_LOGIN_MAX_FAILURES": "10000", "KEYTURN_LOGIN_IP_MAX_FAILURES": "100000"}
CLIENTS = ("clients logging in over and over, each waiting out a refusal's Retry-After (the login throttle "
           "lifted: they stand for as many people, not one address guessing)")


def drain(pid: int, deadline_s: float = 120.0) -> float:
    """Wait until the server's CPU goes quiet: logins that wrk gave up on are
    still hashed after it stops, and must not leak into the next phase.
    Returns the seconds waited."""
    t0 = time.monotonic()
    quiet = 0
    while time.monotonic() - t0 < deadline_s and quiet < 2:
        before = util.tree_cpu(pid)
        time.sleep(0.5)
        quiet = quiet + 1 if util.cpu_delta(before, util.tree_cpu(pid)) < 0.05 else 0
    return time.monotonic() - t0


def argon2_params() -> dict[str, Any]:
    """keyturn's configured defaults if its settings load, else argon2-cffi's."""
    try:
        from keyturn.config import Settings
        f = Settings.model_fields
        return {"source": "keyturn.config.Settings defaults",
                "time_cost": f["argon2_time_cost"].default, "memory_cost_kib": f["argon2_memory_cost"].default,
                "parallelism": f["argon2_parallelism"].default}
    except Exception:  # noqa: BLE001
        import argon2
        ph = argon2.PasswordHasher()
        return {"source": "argon2.PasswordHasher() defaults", "time_cost": ph.time_cost,
                "memory_cost_kib": ph.memory_cost, "parallelism": ph.parallelism}


def run(env: Env, quick: bool, passes: int) -> dict[str, Any]:
    params = argon2_params()
    print(f"  argon2: {params}", flush=True)
    out: dict[str, Any] = {"argon2": params, "logins": LOGINS, "refresh_c": REFRESH_C, "passes": passes,
                           "alone_c": ALONE_C, "alone_n": ALONE_N, "clients": CLIENTS}
    port = util.free_port()
    base = f"http://127.0.0.1:{port}"
    secs = 5.0 if quick else 10.0
    system = BY_NAME["keyturn-redis-eddsa"]
    proc = helper = None
    try:
        kenv = keyturn_env(env, "redis", "EdDSA", cheap=False)
        proc = start_keyturn(env, port, {**kenv, **UNTHROTTLED}, "keyturn-login")
        server = proc
        # The refresh chains are opened through a second worker on the same
        # stores and keys with cheap argon2 (its users' hashes are cheap too),
        # so that setting them up does not take minutes; the hammering users
        # below are registered on the measured worker with the defaults.
        hport = util.free_port()
        helper = start_keyturn(env, hport, {**kenv, **CHEAP_ARGON2}, "keyturn-login-setup")
        pool = {i: chains(system, f"http://127.0.0.1:{hport}", REFRESH_C, f"lg{i}") for i in range(2 * passes)}
        util.stop(helper)
        helper = None
        users = 8
        with httpx.Client(base_url=base, timeout=60) as c:
            for i in range(users):
                c.post("/auth/register", json={"username": f"login{i}", "password": PASSWORD})
        body = env.tmp / "login-body.json"
        body.write_text(json.dumps({"username": "login{user}", "password": PASSWORD}))
        login_env = {"STATIC_BODY_FILE": str(body), "STATIC_PATH": "/auth/login", "STATIC_USERS": str(users)}

        def refresh_alone(i: int) -> dict[str, Any]:
            return run_wrk(system, base, pool[2 * i], secs, env.tmp)

        def refresh_with_logins(i: int) -> dict[str, Any]:
            lw = wrk_start(LOGIN_LUA, base, LOGINS, secs, login_env, env.tmp / "login-bg.out", threads=4)
            try:
                r = run_wrk(system, base, pool[2 * i + 1], secs, env.tmp)
            finally:
                r_login = wrk_wait(lw, secs, env.tmp / "login-bg.out")
            if r["ok"] == 0:  # starved: no refresh finished in the window, so p99 is at least the window
                r["p99_us"], r["starved"] = r["duration_us"], True
            r["logins_ok"] = r_login["ok"]
            r["logins_failed"] = r_login["errors"] + r_login["socket_errors"]  # non-2xx answers + timeouts
            r["login_error_statuses"] = r_login.get("error_statuses", "")
            r["logins_paused"] = r_login.get("paused", 0)  # refusals waited out (Retry-After)
            r["drain_s"] = drain(server.pid)
            return r

        def logins_alone(i: int) -> dict[str, Any]:
            # A fixed batch at the hashing slots' concurrency, waited for to
            # the last answer: on a shared core a fixed window may end before
            # the first batch of hashes does.
            before, t0 = util.tree_cpu(server.pid), time.monotonic()
            with httpx.Client(base_url=base, timeout=120) as c, ThreadPoolExecutor(ALONE_C) as ex:
                codes = list(ex.map(lambda u: c.post("/auth/login", json={"username": f"login{u % users}",
                                                                         "password": PASSWORD}).status_code,
                                    range(ALONE_N)))
            wall = time.monotonic() - t0
            cpu = util.cpu_delta(before, util.tree_cpu(server.pid))
            ok = sum(1 for code in codes if code == 200)
            return {"ok": ok, "errors": len(codes) - ok, "wall_s": wall, "rps": ok / wall,
                    "per_cpu_s": ok / cpu if cpu else 0.0, "server_cpu_per_req_us": cpu / max(ok, 1) * 1e6,
                    "error_statuses": ",".join(f"{code}x{codes.count(code)}" for code in sorted(set(codes)) if code != 200)}

        got = stats.interleave(passes, {"alone": refresh_alone, "with_logins": refresh_with_logins,
                                        "logins": logins_alone})
        for i in range(passes):
            a, w, lg = got["alone"][i], got["with_logins"][i], got["logins"][i]
            print(f"  pass {i + 1}: refresh p99 {a['p99_us'] / 1000:.2f} ms alone, {w['p99_us'] / 1000:.2f} ms "
                  f"with {LOGINS} logins ({w['errors']} broken chains, {w['logins_ok']} logins answered, "
                  f"{w['logins_failed']} failed or timed out [{w['login_error_statuses']}], "
                  f"{w['logins_paused']} Retry-After waits, "
                  f"backlog drained in {w['drain_s']:.0f} s); logins alone (c={ALONE_C}) {lg['rps']:.1f}/s "
                  f"in {lg['wall_s']:.1f} s [{lg.get('error_statuses', '')}]",
                  flush=True)
        out.update({
            "runs": got,
            "p99_ratio": stats.ratio([r["p99_us"] for r in got["with_logins"]],
                                     [r["p99_us"] for r in got["alone"]]).as_dict(),
            "logins_per_s": stats.spread(r["rps"] for r in got["logins"]).as_dict(),
            "logins_per_cpu_s": stats.spread(r["per_cpu_s"] for r in got["logins"]).as_dict(),
            "duration_s": secs,
        })
    except Unavailable as exc:
        out["unavailable"] = str(exc)
        print(f"  login: not available — {exc}", flush=True)
    except Exception as exc:  # noqa: BLE001
        out["failed"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        print(f"  login: FAILED {out['failed']}", flush=True)
    finally:
        util.stop(helper)
        util.stop(proc)
    return out
