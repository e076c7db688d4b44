"""``python -m bench.faults [--code DIR] [--engines ...] [--faults ...]``

The fault harness of docs/operations.md ("What happens when"): chained
clients (each refreshes with the token it last got, and after any error
retries the same token on the other replica) over two replicas sharing one
store, while one fault is injected:

* ``lost``   — the store commits but its replies are lost for longer than the
  grace window (a proxy dropping every reply; on SQLite, which has no
  network, the clients' own network drops our answers instead);
* ``frozen`` — one replica, a real ``keyturn serve``, is stopped (SIGSTOP)
  longer than the clients' timeout with refreshes in flight, then resumed;
* ``clock``  — one replica's clock is 5 s behind the store's (more than the
  store timeout).

For each it reports the sessions revoked, the ``refresh_token_reused`` events
(all false: there is no thief), the clients logged out (a 401), and the 5xx
answers slower than the store timeout (plus a margin). ``--code DIR`` runs
it against another checkout's ``keyturn`` (e.g. the main branch: the
"before" figures). Bounded: every run lasts ``DURATION`` seconds of traffic.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 0.5  # store timeout of the replicas
REUSE = 2  # grace window, s: every outage below is longer
OUTAGE = 4.0  # lost replies / frozen replica, s
CLIENT_TIMEOUT = 1.0  # the clients give up after this
PERIOD = 0.3  # a client refreshes this often, s
DURATION = 10.0  # traffic per run, s
MARGIN = 0.5  # a 5xx later than TIMEOUT + MARGIN counts as unbounded
SKEW = -5.0  # the clock fault: one replica this far behind
UA = "chained/1"


@dataclass
class Tally:
    answers: int = 0
    logged_out: int = 0
    five_xx: int = 0
    slow_5xx: int = 0
    codes: dict[str, int] = field(default_factory=dict)


class Skewed:
    """A ``time`` module (and a Clock) ``by`` seconds off."""

    def __init__(self, by: float) -> None:
        self.by = by

    def time(self) -> float:
        return time.time() + self.by

    def now(self) -> float:
        return self.time()


def client_for(app_or_url: Any) -> Any:
    import httpx

    if isinstance(app_or_url, str):
        return httpx.AsyncClient(base_url=app_or_url, timeout=CLIENT_TIMEOUT, headers={"user-agent": UA})
    transport = httpx.ASGITransport(app=app_or_url, client=("127.0.0.1", 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://keyturn.bench", timeout=CLIENT_TIMEOUT,
                             headers={"user-agent": UA})


async def chained(token: str, replicas: list[Any], tally: Tally, stop: float, lose: list[float]) -> None:
    """One client: refresh, and after any error retry the same token on the
    other replica. ``lose``: [from, to] — answers arriving then are lost."""
    import httpx

    i = random.randrange(len(replicas))
    while time.monotonic() < stop:
        start = time.monotonic()
        try:
            r = await asyncio.wait_for(replicas[i].post("/auth/refresh", json={"refresh_token": token}),
                                       CLIENT_TIMEOUT + 0.5)
        except (httpx.HTTPError, asyncio.TimeoutError):
            i = (i + 1) % len(replicas)
            await asyncio.sleep(0.1)
            continue
        took = time.monotonic() - start
        tally.answers += 1
        code = r.json().get("code", "ok") if r.headers.get("content-type", "").startswith("application/json") else "?"
        tally.codes[f"{r.status_code} {code}"] = tally.codes.get(f"{r.status_code} {code}", 0) + 1
        if lose[0] <= time.monotonic() < lose[1]:
            await asyncio.sleep(max(0.0, lose[1] - time.monotonic()) + 0.1)  # offline; the answer is lost
            i = (i + 1) % len(replicas)
            continue
        if r.status_code == 200:
            token = r.json()["refresh_token"]
            await asyncio.sleep(PERIOD)
        elif r.status_code >= 500:
            tally.five_xx += 1
            tally.slow_5xx += took > TIMEOUT + MARGIN
            i = (i + 1) % len(replicas)
            await asyncio.sleep(0.1)
        else:
            tally.logged_out += 1
            return


@contextlib.asynccontextmanager
async def shared_stores(engine: str, tmp: Path) -> AsyncIterator[dict[str, str]]:
    """The store URLs both replicas use: a fresh database (and a private Redis)."""
    from tests.conftest import free_port
    from tests.stores import backends as b

    if engine == "redis":
        server = b.RedisServer(free_port(), tmp)
        server.start()
        try:
            yield {"database_url": f"sqlite:///{tmp}/db.sqlite", "session_store_url": server.url}
        finally:
            server.stop()
    elif engine == "sqlite":
        yield {"database_url": f"sqlite:///{tmp}/db.sqlite"}
    else:
        admin = b.POSTGRES_URL if engine == "postgresql" else b.MYSQL_URL
        fresh = b.create_database(admin)
        try:
            yield {"database_url": fresh}
        finally:
            b.drop_database(admin, fresh)


def _via(url: str, port: int) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    return urlunsplit((parts.scheme, (userinfo + "@" if userinfo else "") + f"127.0.0.1:{port}", parts.path,
                       parts.query, parts.fragment))


async def run(engine: str, fault: str, code: str, clients: int) -> dict[str, Any]:
    from keyturn.config import Settings
    from keyturn.http.app import create_app
    from keyturn.service.masterkey import new_master_key
    from keyturn.service.wiring import build_runtime
    from tests.conftest import FAST_ARGON2, PASSWORD, start_server, stop_server
    from tests.stores.proxy import FaultProxy

    master = new_master_key()
    base = {"master_key": master, "store_timeout": TIMEOUT, "pool_timeout": TIMEOUT, "reuse_interval": REUSE,
            **FAST_ARGON2}
    tally = Tally()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        async with shared_stores(engine, tmp) as urls, contextlib.AsyncExitStack() as stack:
            admin = build_runtime(Settings(**base, **urls))
            await admin.start()
            stack.push_async_callback(admin.close)
            proxy = None
            replica_urls = dict(urls)
            if fault == "lost" and engine != "sqlite":
                key = "session_store_url" if engine == "redis" else "database_url"
                from urllib.parse import urlsplit

                target = urlsplit(urls[key])
                proxy = FaultProxy(target.hostname or "127.0.0.1", target.port or 0)
                await proxy.start()
                stack.push_async_callback(proxy.close)
                replica_urls[key] = _via(urls[key], proxy.port)
            served = None
            patched: list[tuple[Any, Any]] = []
            if fault in ("frozen", "clock"):
                env = {"PYTHONPATH": code, "KEYTURN_MASTER_KEY": master, "KEYTURN_STORE_TIMEOUT": str(TIMEOUT),
                       "KEYTURN_REUSE_INTERVAL": str(REUSE), "KEYTURN_LOG_FORMAT": "json",
                       **{f"KEYTURN_{k.upper()}": v for k, v in urls.items()}}
                served = await asyncio.to_thread(start_server, tmp, env)
                stack.callback(stop_server, served)
            clock = None
            if fault == "clock":
                import keyturn.stores.redis.sessions as rs
                import keyturn.stores.sql.sessions as ss

                for module in (ss, rs):
                    patched.append((module, module.time))
                    module.time = Skewed(SKEW)  # type: ignore[assignment]
                clock = Skewed(SKEW)
            try:
                apps = []
                for _ in range(1 if served else 2):
                    rt = build_runtime(Settings(**base, **replica_urls), clock=clock)
                    app = create_app(runtime=rt)
                    await stack.enter_async_context(app.router.lifespan_context(app))
                    apps.append(app)
                replicas = [await stack.enter_async_context(client_for(a)) for a in apps]
                if served is not None:
                    replicas.append(await stack.enter_async_context(client_for(served.url)))
                pairs = []
                for n in range(clients):
                    await admin.service.create_user(f"c{n}", PASSWORD)
                    pairs.append(await admin.service.login(f"c{n}", PASSWORD, ip="127.0.0.1", user_agent=UA))
                start = time.monotonic()
                lose = [0.0, 0.0]
                if fault == "lost" and proxy is None:
                    lose = [start + 2, start + 2 + OUTAGE]
                tasks = [asyncio.create_task(chained(p.refresh_token, replicas, tally, start + DURATION, lose))
                         for p in pairs]
                await asyncio.sleep(2)
                if proxy is not None:
                    proxy.drop_replies()
                    await asyncio.sleep(OUTAGE)
                    await proxy.up()
                elif fault == "frozen" and served is not None:
                    served.process.send_signal(signal.SIGSTOP)
                    try:
                        await asyncio.sleep(OUTAGE)
                    finally:
                        served.process.send_signal(signal.SIGCONT)
                await asyncio.gather(*tasks)
                await asyncio.sleep(1.5)  # what a resumed replica held is answered by now
                revoked = 0
                for p in pairs:
                    s = await admin.stores.sessions.get_session(p.session_id)
                    revoked += s is None or s.revoked_at is not None
                reused = [e for e in await admin.stores.events.list_events(limit=10_000)
                          if e.type == "refresh_token_reused"]
            finally:
                for module, original in patched:
                    module.time = original
    return {"engine": engine, "fault": fault, "clients": clients, "revoked": revoked,
            "false_reuse_events": len(reused), "logged_out": tally.logged_out, "answers": tally.answers,
            "5xx": tally.five_xx, "5xx_beyond_timeout": tally.slow_5xx, "codes": tally.codes}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__.split("\n\n")[0])
    ap.add_argument("--code", default=str(ROOT), help="the checkout whose keyturn to run (default: this one)")
    ap.add_argument("--engines", default="sqlite,postgresql,mariadb,redis")
    ap.add_argument("--faults", default="lost,frozen,clock")
    ap.add_argument("--clients", type=int, default=16)
    args = ap.parse_args(argv)
    import logging

    logging.disable(logging.CRITICAL)  # the faults make the replicas log every 503: the tally is the report
    import tests.stores.proxy  # noqa: F401 - this checkout's test helpers, before --code takes over keyturn

    sys.path.insert(0, os.path.abspath(args.code))
    import keyturn

    print(f"# keyturn from {Path(keyturn.__file__).parent}", flush=True)
    for engine in args.engines.split(","):
        for fault in args.faults.split(","):
            result = asyncio.run(run(engine, fault, os.path.abspath(args.code), args.clients))
            print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
