"""Login cost with keyturn's default argon2 parameters: logins are meant to
be expensive, and this section shows how expensive on this machine."""

from __future__ import annotations

import json
from typing import Any

import httpx

from bench import util
from bench.refresh import wrk
from bench.systems import PASSWORD, Env, Unavailable, keyturn_env, start_keyturn

STATIC = util.BENCH / "static.lua"


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


def run(env: Env, quick: bool) -> dict[str, Any]:
    params = argon2_params()
    print(f"  argon2: {params}", flush=True)
    out: dict[str, Any] = {"argon2": params, "runs": []}
    port = util.free_port()
    base = f"http://127.0.0.1:{port}"
    proc = None
    try:
        proc = start_keyturn(env, port, keyturn_env(env, "sqlite", "EdDSA", cheap=False), "keyturn-login")
        users = 4
        with httpx.Client(base_url=base, timeout=30) as c:
            for i in range(users):
                c.post("/auth/register", json={"username": f"login{i}", "password": PASSWORD})
        body = env.tmp / "login-body.json"
        body.write_text(json.dumps({"username": "login{user}", "password": PASSWORD}))
        for conc in (1, 4):
            before = util.tree_cpu(proc.pid)
            res = wrk(STATIC, base, conc, 3.0 if quick else 8.0,
                      {"STATIC_BODY_FILE": str(body), "STATIC_PATH": "/auth/login", "STATIC_USERS": str(users)},
                      env.tmp / f"login-{conc}.out")
            cpu = util.cpu_delta(before, util.tree_cpu(proc.pid))
            secs = res["duration_us"] / 1e6
            res.update({"concurrency": conc, "rps": res["ok"] / secs if secs else 0.0,
                        "server_cpu_per_req_us": cpu / max(res["ok"], 1) * 1e6})
            out["runs"].append(res)
            print(f"  login c={conc}: {res['rps']:.1f}/s p50 {res['p50_us'] / 1000:.1f} ms "
                  f"p99 {res['p99_us'] / 1000:.1f} ms errors {res['errors']}", flush=True)
    except Unavailable as exc:
        out["unavailable"] = str(exc)
        print(f"  login: not available — {exc}", flush=True)
    except Exception as exc:  # noqa: BLE001
        out["failed"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        print(f"  login: FAILED {out['failed']}", flush=True)
    finally:
        util.stop(proc)
    return out
