"""Process, port and /proc helpers shared by every section.

Everything here exists so that a benchmark can never leave a server behind:
servers are started in their own process group, waited on with a deadline and
killed by PID in ``finally`` blocks by the callers."""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
DOCS = ROOT / "docs"
CLK_TCK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1
SERVER_CORE = 0
LOAD_CORE = 1 if NCPU > 1 else 0


def free_port() -> int:
    """A loopback port nobody is listening on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def taskset_prefix(core: int) -> list[str]:
    """``taskset -c core`` when taskset exists, else nothing (unpinned)."""
    return ["taskset", "-c", str(core)] if Path("/usr/bin/taskset").exists() else []


@dataclass
class Proc:
    """A started server: its Popen, log file and a label for messages."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    extra_pids: list[int] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def tail(self, n: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def start(name: str, argv: Sequence[str], env: Mapping[str, str] | None = None,
          cwd: Path | None = None, core: int | None = SERVER_CORE,
          logdir: Path | None = None) -> Proc:
    """Start a server in a new session (own process group), pinned to ``core``."""
    logdir = logdir or Path(tempfile.gettempdir())
    log = logdir / f"{name}.log"
    full_env = dict(os.environ)
    full_env.update(env or {})
    cmd = (taskset_prefix(core) if core is not None else []) + list(argv)
    with open(log, "wb") as fh:
        p = subprocess.Popen(cmd, env=full_env, cwd=str(cwd or ROOT), stdout=fh,
                             stderr=subprocess.STDOUT, start_new_session=True)
    return Proc(name, p, log)


def stop(proc: Proc | None, grace: float = 5.0) -> None:
    """TERM then KILL the process group we created (by its PID only)."""
    if proc is None:
        return
    pids = [proc.pid, *proc.extra_pids]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
    try:
        proc.popen.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.popen.wait(timeout=grace)


def wait_http(proc: Proc, url: str, deadline_s: float = 30.0, ok: tuple[int, ...] = (200,)) -> None:
    """Poll ``url`` until it answers ``ok`` or the deadline passes."""
    end = time.monotonic() + deadline_s
    last = ""
    while time.monotonic() < end:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}: {proc.tail()}")
        try:
            r = httpx.get(url, timeout=1.0)
            if r.status_code in ok:
                return
            last = f"HTTP {r.status_code}"
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name} not ready after {deadline_s:.0f}s ({last}): {proc.tail()}")


def wait_tcp(port: int, deadline_s: float = 10.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"port {port} not listening after {deadline_s}s")


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out.extend(int(x) for x in fh.read().split())
    except OSError:
        pass
    return out


def tree(pid: int) -> list[int]:
    """``pid`` and all its live descendants (gunicorn master + workers)."""
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        seen.append(p)
        todo.extend(_children(p))
    return seen


def cpu_seconds(pid: int) -> float:
    """utime+stime of one process from /proc/PID/stat, in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


def tree_cpu(pid: int) -> dict[int, float]:
    """Per-PID CPU seconds of the tree, so deltas survive a worker restart."""
    return {p: cpu_seconds(p) for p in tree(pid)}


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(v - before.get(p, 0.0) for p, v in after.items())


def pin(pid: int, core: int) -> bool:
    """Pin a process we own to ``core`` (all threads); False if not possible."""
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            os.sched_setaffinity(int(tid), {core})
        return True
    return False


@contextlib.contextmanager
def tempdir(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=prefix) as d:
        yield Path(d)


def version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "-"


def wrk_version() -> str:
    try:
        out = subprocess.run(["wrk", "--version"], capture_output=True, text=True, timeout=5)
        return (out.stdout or out.stderr).split("[")[0].strip()
    except (OSError, subprocess.SubprocessError):
        return "-"


def machine() -> dict[str, object]:
    """What the numbers were measured on."""
    model = "-"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    libs = ["keyturn", "pyjwt", "joserfc", "cryptography", "redis", "hiredis", "uvicorn", "uvloop",
            "httptools", "fastapi", "starlette", "orjson", "aiosqlite", "asyncpg", "sqlalchemy",
            "argon2-cffi", "flask", "flask-jwt-extended", "gunicorn", "django",
            "djangorestframework", "djangorestframework-simplejwt", "psycopg"]
    return {
        "cores": NCPU,
        "cpu_model": model,
        "python": sys.version.split()[0],
        "kernel": platform.release(),
        "wrk": wrk_version(),
        "libs": {name: version(name) for name in libs},
    }
