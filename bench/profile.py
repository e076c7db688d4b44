"""Where a refresh's microseconds go: py-spy samples one keyturn worker
(Redis sessions, EdDSA) under the chaining load at c=16, and the samples are
folded into self and inclusive shares per function, then scaled by the server
CPU per refresh measured over the same run.

py-spy is a bench tool, not a dependency: ``pip install py-spy`` into the
venv.  Without it (or without ptrace rights) the section says so."""

from __future__ import annotations

import collections
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import util
from bench.refresh import run_wrk
from bench.systems import BY_NAME, Env, Unavailable, chains, keyturn_env, start_keyturn

TOP = 25
_FRAME = re.compile(r"^(?P<fn>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def py_spy() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


def _short(frame: str) -> str:
    """``refresh (keyturn/service.py)``: function and the file's tail."""
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m["file"]
    for marker in ("site-packages/", "/keyturn/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker == "/keyturn/":
                path = "keyturn/" + path
            break
    return f"{m['fn']} ({path})"


# A stack's samples go to the component of its leaf-most frame that belongs
# to a known package (a signature called from keyturn counts as signing).
COMPONENTS = [
    ("jwt/", "signing: PyJWT + cryptography"), ("cryptography/", "signing: PyJWT + cryptography"),
    ("redis/", "Redis client: redis-py (+hiredis)"), ("uvicorn/", "HTTP server: uvicorn + httptools"),
    ("starlette/", "Starlette: routing, requests, responses"), ("keyturn/http/", "keyturn: HTTP layer"),
    ("keyturn/stores/", "keyturn: store layer"), ("keyturn/", "keyturn: service and core"),
    ("asyncio/", "asyncio machinery (timeouts, tasks, streams)"),
]


def component(frames: list[str]) -> str:
    for f in reversed(frames):
        path = f.rsplit("(", 1)[-1]
        for prefix, name in COMPONENTS:
            if path.startswith(prefix):
                return "event loop (uvloop, in C)" if f.startswith("Runner.run ") else name
    return "other"


def fold(raw: str) -> dict[str, Any]:
    """Self and inclusive sample counts per function, and samples per
    component, from py-spy's raw (collapsed stacks) output."""
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    comp: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_short(f) for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += n
        own[frames[-1]] += n
        comp[component(frames)] += n
        for f in set(frames):
            incl[f] += n
    mine = [(f, n) for f, n in incl.most_common() if "(keyturn/" in f and not f.startswith(("main ", "serve "))]
    return {"samples": total, "self": own.most_common(TOP), "inclusive": incl.most_common(TOP),
            "keyturn_inclusive": mine[:TOP], "components": comp.most_common()}


def run(env: Env, quick: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"system": "keyturn-redis-eddsa", "concurrency": 16}
    spy = py_spy()
    if spy is None:
        out["unavailable"] = "py-spy not installed (pip install py-spy)"
        print(f"  profile: {out['unavailable']}", flush=True)
        return out
    secs = 6.0 if quick else 20.0
    system = BY_NAME["keyturn-redis-eddsa"]
    port = util.free_port()
    base = f"http://127.0.0.1:{port}"
    proc = None
    raw = env.tmp / "profile.txt"
    try:
        proc = start_keyturn(env, port, keyturn_env(env, "redis", "EdDSA"), "keyturn-profile")
        run_wrk(system, base, chains(system, base, 4, "pw"), 1.0, env.tmp)
        tokens = chains(system, base, 16, "pr")
        before = util.tree_cpu(proc.pid)
        spy_p = subprocess.Popen([spy, "record", "--pid", str(proc.pid), "--rate", "200", "--nonblocking",
                                  "--format", "raw", "--duration", str(int(secs)), "--output", str(raw)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)
        res = run_wrk(system, base, tokens, secs, env.tmp)
        cpu = util.cpu_delta(before, util.tree_cpu(proc.pid))
        try:
            _, err = spy_p.communicate(timeout=secs + 30)
        except subprocess.TimeoutExpired:
            spy_p.kill()
            _, err = spy_p.communicate()
        if not raw.exists():
            raise Unavailable(f"py-spy wrote nothing: {err.decode(errors='replace').strip()[-200:]}")
        out.update(fold(raw.read_text()))
        util.RESULTS.mkdir(parents=True, exist_ok=True)
        keep = util.RESULTS / f"profile-{time.strftime('%Y%m%d-%H%M%S')}.txt"
        shutil.copyfile(raw, keep)
        out["raw"] = str(keep.relative_to(util.ROOT))
        out.update({"rps": res["ok"] / (res["duration_us"] / 1e6), "p99_us": res["p99_us"],
                    "server_cpu_per_req_us": cpu / max(res["ok"], 1) * 1e6, "duration_s": secs,
                    "note": "py-spy --nonblocking --rate 200, Python frames only (time in C extensions is "
                            "charged to the Python function that called them); the collapsed stacks are kept "
                            "beside the results JSON"})
        print(f"  profile: {out['samples']} samples, {out['server_cpu_per_req_us']:.0f} us CPU per refresh "
              f"while sampled; top self: " + ", ".join(f"{f} {n / max(out['samples'], 1):.0%}"
                                                       for f, n in out["self"][:3]), flush=True)
    except Unavailable as exc:
        out["unavailable"] = str(exc)
        print(f"  profile: not available — {exc}", flush=True)
    except Exception as exc:  # noqa: BLE001
        out["failed"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        print(f"  profile: FAILED {out['failed']}", flush=True)
    finally:
        util.stop(proc)
    return out
