"""The systems under test: how to start each one on loopback, how to open N
refresh chains on it, and what a refresh request looks like for wrk."""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import util

PASSWORD = "correct horse battery staple"


class Unavailable(RuntimeError):
    """The system could not be started; the reason goes into the report."""


@dataclass
class Env:
    """Shared run resources: our own Redis and the temp dir."""

    tmp: Path
    redis_port: int | None = None
    pg_dbs: list[str] = field(default_factory=list)

    @property
    def redis_url(self) -> str:
        if self.redis_port is None:
            raise Unavailable("no Redis")
        return f"redis://127.0.0.1:{self.redis_port}/0"


@dataclass
class System:
    name: str
    label: str
    kind: str  # "peer" | "keyturn" | "ceiling"
    start: Callable[[Env, int], util.Proc]
    login: Callable[[httpx.Client, str], str]
    method: str = "POST"
    path: str = "/auth/refresh"
    mode: str = "json"
    key: str = "refresh_token"
    prefix: str = ""
    field: str = "refresh_token"
    db: str = "-"
    workers: str = "1"

    def chain_env(self, tokens: Path) -> dict[str, str]:
        return {"CHAIN_TOKENS": str(tokens), "CHAIN_METHOD": self.method, "CHAIN_PATH": self.path,
                "CHAIN_MODE": self.mode, "CHAIN_KEY": self.key, "CHAIN_PREFIX": self.prefix,
                "CHAIN_FIELD": self.field}


PY = sys.executable


def _uvicorn(app: str, port: int) -> list[str]:
    return [PY, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop",
            "--http", "httptools", "--no-access-log", "--log-level", "warning", "--workers", "1"]


def _gunicorn(app: str, port: int) -> list[str]:
    return [PY, "-m", "gunicorn", "-w", "1", "-k", "sync", "-b", f"127.0.0.1:{port}", "--log-level",
            "warning", app]


def _ready(proc: util.Proc, port: int) -> util.Proc:
    try:
        util.wait_http(proc, f"http://127.0.0.1:{port}/healthz", 40)
    except RuntimeError as exc:
        util.stop(proc)
        raise Unavailable(str(exc).splitlines()[-1][:300] if str(exc) else "not ready") from None
    return proc


def _seed(atomic: bool) -> Callable[[Env, int], util.Proc]:
    def start(env: Env, port: int) -> util.Proc:
        e = {"SEED_REDIS_URL": env.redis_url, "SEED_ATOMIC": "1" if atomic else "0",
             "SEED_PREFIX": f"seed{int(atomic)}:"}
        return _ready(util.start(f"seed{int(atomic)}", _uvicorn("bench.peers.seed_app:app", port), e,
                                 logdir=env.tmp), port)
    return start


def _json_login(path: str, field_: str = "refresh_token") -> Callable[[httpx.Client, str], str]:
    def login(c: httpx.Client, user: str) -> str:
        r = c.post(path, json={"username": user, "password": PASSWORD})
        r.raise_for_status()
        return str(r.json()[field_])
    return login


def _start_flask(env: Env, port: int) -> util.Proc:
    e = {"FLASK_REDIS_URL": env.redis_url}
    return _ready(util.start("flask", _gunicorn("bench.peers.flask_app:app", port), e, logdir=env.tmp), port)


def pg_create(env: Env, prefix: str) -> str:
    import psycopg
    name = f"kt_bench_{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        with psycopg.connect("host=127.0.0.1 user=postgres dbname=test", autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}"')
            c.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        raise Unavailable(f"PostgreSQL: {exc}") from None
    env.pg_dbs.append(name)
    return name


def pg_drop_all(env: Env) -> None:
    import psycopg
    with contextlib.suppress(psycopg.Error), \
            psycopg.connect("host=127.0.0.1 user=postgres dbname=test", autocommit=True) as c:
        for name in env.pg_dbs:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    env.pg_dbs.clear()


def _drf(backend: str) -> Callable[[Env, int], util.Proc]:
    def start(env: Env, port: int) -> util.Proc:
        if backend == "postgres":
            db = "postgres:" + pg_create(env, "drf")
        else:
            db = f"sqlite:{env.tmp}/drf-{port}.sqlite3"
        e = {"DRF_DB": db, "DJANGO_SETTINGS_MODULE": "bench.peers.drf.settings"}
        mig = subprocess.run([PY, "-m", "bench.peers.drf.manage", "migrate", "-v", "0"], cwd=util.ROOT,
                             env={**os.environ, **e}, capture_output=True, text=True, timeout=120)
        if mig.returncode != 0:
            raise Unavailable("migrate failed: " + mig.stderr.strip().splitlines()[-1][:200])
        return _ready(util.start(f"drf-{backend}", _gunicorn("bench.peers.drf.wsgi:application", port), e,
                                 logdir=env.tmp), port)
    return start


def _drf_login(c: httpx.Client, user: str) -> str:
    c.post("/api/register/", json={"username": user, "password": PASSWORD}).raise_for_status()
    r = c.post("/api/token/", json={"username": user, "password": PASSWORD})
    r.raise_for_status()
    return str(r.json()["refresh"])


def _start_ceiling(env: Env, port: int) -> util.Proc:
    return _ready(util.start("ceiling", _uvicorn("bench.peers.ceiling_app:app", port), logdir=env.tmp), port)


# ---------------------------------------------------------------- keyturn

def master_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


CHEAP_ARGON2 = {"KEYTURN_ARGON2_TIME_COST": "1", "KEYTURN_ARGON2_MEMORY_COST": "1024",
                "KEYTURN_ARGON2_PARALLELISM": "1"}


def keyturn_cmd() -> list[str]:
    """The ``keyturn`` console script, or the same entry point through this
    interpreter when keyturn is importable but its script is not on PATH."""
    if shutil.which("keyturn"):
        return ["keyturn"]
    return [PY, "-c", "from keyturn.cli import main; main()"]


def keyturn_available() -> str | None:
    """None if the ``keyturn`` command exists and has ``serve``, else why not."""
    try:
        out = subprocess.run([*keyturn_cmd(), "--help"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"`keyturn` command not available ({type(exc).__name__})"
    if out.returncode != 0 or "serve" not in out.stdout:
        return "`keyturn --help` has no `serve` command yet"
    return None


def keyturn_env(env: Env, store: str, alg: str, cheap: bool = True) -> dict[str, str]:
    """Environment for one keyturn variant; creates its database."""
    e = {"KEYTURN_SIGNING_ALG": alg, "KEYTURN_MASTER_KEY": master_key(), "KEYTURN_LOG_LEVEL": "warning"}
    if store == "postgres":
        e["KEYTURN_DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:5432/{pg_create(env, 'kt')}"
    else:
        e["KEYTURN_DATABASE_URL"] = f"sqlite:///{env.tmp}/kt-{secrets.token_hex(4)}.db"
    if store == "redis":
        e["KEYTURN_SESSION_STORE_URL"] = env.redis_url
    if cheap:
        e.update(CHEAP_ARGON2)
    return e


def start_keyturn(env: Env, port: int, kenv: dict[str, str], name: str = "keyturn") -> util.Proc:
    why = keyturn_available()
    if why:
        raise Unavailable(why)
    argv = [*keyturn_cmd(), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    # cwd outside the repo: a source checkout must not shadow the installed keyturn
    return _ready(util.start(name, argv, kenv, cwd=env.tmp, logdir=env.tmp), port)


def _keyturn(store: str, alg: str) -> Callable[[Env, int], util.Proc]:
    def start(env: Env, port: int) -> util.Proc:
        return start_keyturn(env, port, keyturn_env(env, store, alg), f"keyturn-{store}-{alg}")
    return start


def keyturn_login(c: httpx.Client, user: str) -> str:
    r = c.post("/auth/register", json={"username": user, "password": PASSWORD})
    if r.status_code not in (200, 201, 409):
        r.raise_for_status()
    r = c.post("/auth/login", json={"username": user, "password": PASSWORD})
    r.raise_for_status()
    return str(r.json()["refresh_token"])


SYSTEMS: list[System] = [
    System("keyturn-sqlite-eddsa", "keyturn (SQLite, EdDSA)", "keyturn", _keyturn("sqlite", "EdDSA"),
           keyturn_login, db="sqlite"),
    System("keyturn-sqlite-hs256", "keyturn (SQLite, HS256)", "keyturn", _keyturn("sqlite", "HS256"),
           keyturn_login, db="sqlite"),
    System("keyturn-pg-eddsa", "keyturn (PostgreSQL, EdDSA)", "keyturn", _keyturn("postgres", "EdDSA"),
           keyturn_login, db="postgres"),
    System("keyturn-redis-eddsa", "keyturn (Redis sessions, EdDSA)", "keyturn", _keyturn("redis", "EdDSA"),
           keyturn_login, db="redis"),
    System("keyturn-redis-hs256", "keyturn (Redis sessions, HS256)", "keyturn", _keyturn("redis", "HS256"),
           keyturn_login, db="redis"),
    System("seed", "seed-style FastAPI+PyJWT+Redis (GET/SET)", "peer", _seed(False), _json_login("/login"),
           method="PATCH", path="/reissue", mode="header", key="Refresh", db="redis"),
    System("seed-atomic", "seed-style, atomic EVALSHA", "peer", _seed(True), _json_login("/login"),
           method="PATCH", path="/reissue", mode="header", key="Refresh", db="redis"),
    System("flask-jwt", "Flask+flask-jwt-extended+Redis blocklist", "peer", _start_flask,
           _json_login("/login"), path="/refresh", mode="header", key="Authorization", prefix="Bearer ",
           db="redis"),
    System("drf-sqlite", "DRF+simplejwt (SQLite, blacklist)", "peer", _drf("sqlite"), _drf_login,
           path="/api/token/refresh/", key="refresh", field="refresh", db="sqlite"),
    System("drf-pg", "DRF+simplejwt (PostgreSQL, blacklist)", "peer", _drf("postgres"), _drf_login,
           path="/api/token/refresh/", key="refresh", field="refresh", db="postgres"),
    System("ceiling", "ceiling: bare Starlette constant JSON", "ceiling", _start_ceiling, _json_login("/login"),
           path="/refresh", db="-"),
]
BY_NAME = {s.name: s for s in SYSTEMS}


@contextlib.contextmanager
def own_redis(tmp: Path) -> Iterator[tuple[util.Proc, int]]:
    """A private redis-server (no persistence) on a free port, pinned to the load core."""
    port = util.free_port()
    proc = util.start(f"redis-{port}", ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                        "--save", "", "--appendonly", "no", "--dir", str(tmp)],
                      core=util.LOAD_CORE, logdir=tmp)
    try:
        util.wait_tcp(port)
        yield proc, port
    finally:
        util.stop(proc)


def chains(system: System, base: str, n: int, tag: str) -> list[str]:
    """Log in ``n`` fresh users; one refresh token (chain) each."""
    with httpx.Client(base_url=base, timeout=30) as c:
        return [system.login(c, f"u{tag}x{i}") for i in range(n)]


def as_dict(s: System) -> dict[str, Any]:
    return {"name": s.name, "label": s.label, "kind": s.kind, "db": s.db}
