"""Refresh under load: every request is a real rotation (chaining wrk
generator), one server worker pinned to core 0, wrk pinned to core 1.  Server
CPU per request comes from /proc (the whole process tree), generator CPU from
wrk's rusage."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from bench import util
from bench.systems import Env, System, Unavailable, chains

LUA = util.BENCH / "chain.lua"


def run_wrk(system: System, base: str, tokens: list[str], duration: float, tmp: Path) -> dict[str, Any]:
    """One wrk run with ``len(tokens)`` threads, each one connection, one chain."""
    c = len(tokens)
    tok_file = tmp / f"tokens-{system.name}-{c}.txt"
    tok_file.write_text("\n".join(tokens) + "\n")
    return wrk(LUA, base, c, duration, system.chain_env(tok_file), tmp / f"wrk-{system.name}-{c}.out")


def wrk(script: Path, base: str, c: int, duration: float, env: dict[str, str], out_path: Path) -> dict[str, Any]:
    """Run wrk pinned to the load core, bounded by ``duration`` (+30 s hard stop)."""
    argv = util.taskset_prefix(util.LOAD_CORE) + [
        "wrk", "-t", str(c), "-c", str(c), "-d", f"{max(1, round(duration))}s", "--timeout", "5s", "--latency",
        "-s", str(script), base]
    with open(out_path, "w") as out:
        p = subprocess.Popen(argv, env={**os.environ, **env}, stdout=out,
                             stderr=subprocess.STDOUT)
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


def bench_system(system: System, env: Env, concurrencies: list[int], duration: float,
                 warmup: float) -> dict[str, Any]:
    """Start the system, warm it, run each concurrency with fresh chains, stop it."""
    port = util.free_port()
    base = f"http://127.0.0.1:{port}"
    out: dict[str, Any] = {"system": system.name, "label": system.label, "kind": system.kind,
                           "db": system.db, "runs": []}
    proc = None
    try:
        try:
            proc = system.start(env, port)
        except Unavailable as exc:
            out["unavailable"] = str(exc)
            return out
        out["server_pinned_core"] = util.SERVER_CORE
        if warmup > 0:
            run_wrk(system, base, chains(system, base, 4, "w"), warmup, env.tmp)
        for c in concurrencies:
            tokens = chains(system, base, c, f"c{c}")
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
            out["runs"].append(res)
            print(f"  {system.name:22s} c={c:<3d} {res['rps']:8.0f} req/s  p50 {res['p50_us'] / 1000:6.2f} ms"
                  f"  p99 {res['p99_us'] / 1000:6.2f} ms  cpu/req {res['server_cpu_per_req_us']:6.0f} us"
                  f"  errors {res['errors']}", flush=True)
    except Exception as exc:  # noqa: BLE001 - one broken system must not end the run
        out["failed"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        if proc is not None:
            out["log_tail"] = proc.tail(8)
        print(f"  {system.name}: FAILED {out['failed']}", flush=True)
    finally:
        util.stop(proc)
    return out


def run(systems: list[System], env: Env, quick: bool) -> dict[str, Any]:
    concurrencies = [1, 16, 64]
    duration = 2.0 if quick else 10.0
    warmup = 1.0 if quick else 3.0
    results = []
    for s in systems:
        print(f"[refresh] {s.name}", flush=True)
        r = bench_system(s, env, concurrencies, duration, warmup)
        if "unavailable" in r:
            print(f"  {s.name}: not available — {r['unavailable']}", flush=True)
        results.append(r)
    return {"duration_s": duration, "warmup_s": warmup, "concurrencies": concurrencies,
            "systems": results}
