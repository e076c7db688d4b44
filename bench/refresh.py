"""Refresh under load: every request is a real rotation (chaining wrk
generator), one server worker pinned to core 0, wrk pinned to core 1.  Server
CPU per request comes from /proc (the whole process tree), generator CPU from
wrk's rusage.

All systems are started first and then driven in interleaved passes (A, B, C,
then C, B, A, …), each pass also measuring the floor's parts in-process, so every
ratio is per pass and summarised by ``bench.stats``."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from bench import floor, stats, util
from bench.systems import Env, System, Unavailable, chains, pg_create

LUA = util.BENCH / "chain.lua"
# The systems every target needs; --quick drives only these.
TARGET_SYSTEMS = ["keyturn-redis-eddsa", "keyturn-sqlite-eddsa", "keyturn-pg-eddsa", "seed-atomic", "ceiling"]


def run_wrk(system: System, base: str, tokens: list[str], duration: float, tmp: Path) -> dict[str, Any]:
    """One wrk run with ``len(tokens)`` threads, each one connection, one chain."""
    c = len(tokens)
    tok_file = tmp / f"tokens-{system.name}-{c}.txt"
    tok_file.write_text("\n".join(tokens) + "\n")
    return wrk(LUA, base, c, duration, system.chain_env(tok_file), tmp / f"wrk-{system.name}-{c}.out")


def wrk(script: Path, base: str, c: int, duration: float, env: dict[str, str], out_path: Path,
        threads: int | None = None) -> dict[str, Any]:
    """Run wrk pinned to the load core, bounded by ``duration`` (+30 s hard stop)."""
    return wrk_wait(wrk_start(script, base, c, duration, env, out_path, threads), duration, out_path)


def wrk_start(script: Path, base: str, c: int, duration: float, env: dict[str, str], out_path: Path,
              threads: int | None = None) -> subprocess.Popen[bytes]:
    argv = util.taskset_prefix(util.LOAD_CORE) + [
        "wrk", "-t", str(threads or c), "-c", str(c), "-d", f"{max(1, round(duration))}s", "--timeout", "5s",
        "--latency", "-s", str(script), base]
    with open(out_path, "w") as out:
        return subprocess.Popen(argv, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)


def wrk_wait(p: subprocess.Popen[bytes], duration: float, out_path: Path) -> dict[str, Any]:
    """Reap a wrk started by ``wrk_start`` (killed by PID past its deadline)."""
    deadline = time.monotonic() + duration + 30
    status = None
    rusage = None
    while time.monotonic() < deadline:
        pid, status, rusage = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        time.sleep(0.05)
    else:
        p.kill()
        _, status, rusage = os.wait4(p.pid, 0)
    p.returncode = 0  # reaped by wait4 above; keep Popen from waiting again
    text = out_path.read_text()
    line = next((ln for ln in text.splitlines() if ln.startswith("CHAIN_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result: {text[-400:]}")
    res: dict[str, Any] = json.loads(line.split(" ", 1)[1])
    res["generator_cpu_s"] = (rusage.ru_utime + rusage.ru_stime) if rusage else 0.0
    return res


def drive(system: System, proc: util.Proc, base: str, env: Env, c: int, duration: float,
          tag: str) -> dict[str, Any]:
    """One measured run at concurrency ``c`` with fresh chains."""
    tokens = chains(system, base, c, tag)
    before = util.tree_cpu(proc.pid)
    res = run_wrk(system, base, tokens, duration, env.tmp)
    after = util.tree_cpu(proc.pid)
    secs = res["duration_us"] / 1e6
    server_cpu = util.cpu_delta(before, after)
    done = max(res["ok"], 1)
    res.update({
        "concurrency": c,
        "rps": res["ok"] / secs if secs else 0.0,
        "server_cpu_s": server_cpu,
        "server_cpu_per_req_us": server_cpu / done * 1e6,
        "generator_cpu_per_req_us": res["generator_cpu_s"] / done * 1e6,
        "server_procs": len(after),
    })
    return res


def _summary(c: int, passes: list[dict[str, Any]]) -> dict[str, Any]:
    """The medians over passes of one system at one concurrency."""
    out: dict[str, Any] = {"concurrency": c, "passes": len(passes),
                           "errors": sum(r["errors"] for r in passes)}
    for key in ("rps", "p50_us", "p99_us", "server_cpu_per_req_us", "generator_cpu_per_req_us"):
        sp = stats.spread(r[key] for r in passes)
        out[key] = sp.median
        out[key.replace("_us", "") + "_spread"] = sp.as_dict()
    return out


def run(systems: list[System], env: Env, quick: bool, passes: int) -> dict[str, Any]:
    concurrencies = [16] if quick else [1, 16, 64]
    duration = 2.0 if quick else 5.0
    warmup = 1.0 if quick else 3.0
    results: dict[str, dict[str, Any]] = {}
    live: list[tuple[System, util.Proc, str]] = []
    try:
        for s in systems:
            out: dict[str, Any] = {"system": s.name, "label": s.label, "kind": s.kind, "db": s.db,
                                   "passes": {}, "runs": []}
            results[s.name] = out
            port = util.free_port()
            base = f"http://127.0.0.1:{port}"
            try:
                proc = s.start(env, port)
                if warmup > 0:
                    run_wrk(s, base, chains(s, base, 4, "w"), warmup, env.tmp)
                live.append((s, proc, base))
                out["server_pinned_core"] = util.SERVER_CORE
                print(f"[refresh] {s.name} started", flush=True)
            except Unavailable as exc:
                out["unavailable"] = str(exc)
                print(f"  {s.name}: not available — {exc}", flush=True)
            except Exception as exc:  # noqa: BLE001 - one broken system must not end the run
                out["failed"] = f"{type(exc).__name__}: {str(exc)[:300]}"
                print(f"  {s.name}: FAILED {out['failed']}", flush=True)
        try:
            pg_db: str | None = pg_create(env, "floor")
        except Unavailable:
            pg_db = None

        def arm(s: System, proc: util.Proc, base: str, c: int) -> Any:
            def one(i: int) -> dict[str, Any] | None:
                if "failed" in results[s.name]:
                    return None
                try:
                    r = drive(s, proc, base, env, c, duration, f"p{i}c{c}")
                except Exception as exc:  # noqa: BLE001
                    results[s.name]["failed"] = f"{type(exc).__name__}: {str(exc)[:300]}"
                    results[s.name]["log_tail"] = proc.tail(8)
                    print(f"  {s.name}: FAILED {results[s.name]['failed']}", flush=True)
                    return None
                print(f"  pass {i + 1} {s.name:22s} c={c:<3d} {r['rps']:8.0f} req/s  p50 {r['p50_us'] / 1000:6.2f} ms"
                      f"  p99 {r['p99_us'] / 1000:6.2f} ms  cpu/req {r['server_cpu_per_req_us']:6.0f} us"
                      f"  errors {r['errors']}", flush=True)
                return r
            return one

        arms: dict[str, Any] = {f"{s.name}@{c}": arm(s, proc, base, c) for c in concurrencies for s, proc, base in live}
        arms["floor"] = lambda i: floor.measure(env, quick, pg_db, core=util.SERVER_CORE)
        by_arm = stats.interleave(passes, arms)
    finally:
        for _, proc, _ in live:
            util.stop(proc)
    for s, _, _ in live:
        out = results[s.name]
        for c in concurrencies:
            got = by_arm.get(f"{s.name}@{c}", [])
            out["passes"][str(c)] = got
            ok = [r for r in got if r is not None]
            if ok:
                out["runs"].append(_summary(c, ok))
    fl = by_arm.get("floor", [])
    ops = {k: stats.spread(p[k] for p in fl if k in p).median for k in (fl[0] if fl else {})}
    return {"duration_s": duration, "warmup_s": warmup, "concurrencies": concurrencies, "passes": passes,
            "systems": list(results.values()), "floor": {"passes": fl, "ops_s": ops}}
