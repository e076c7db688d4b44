"""A replica frozen with refreshes in flight (a VM pause, a live migration, a
swap storm: here SIGSTOP) resumes long after its clients gave up and
rotated elsewhere. What it then reads is no evidence of theft: a request
whose client has gone gives no reuse verdict (docs/concepts.md, "Stale
requests"). A real ``keyturn serve`` replica; the other replica is this
process, on the same stores."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from keyturn.config import Settings
from keyturn.service.masterkey import new_master_key
from keyturn.service.wiring import build_runtime
from tests.conftest import FAST_ARGON2, PASSWORD, start_server, stop_server

pytestmark = pytest.mark.slow

USERS = 8
CLIENT_TIMEOUT = 2.0  # the clients' own timeout: they give up on the frozen replica
UA = "app/1.0"
IP = "127.0.0.1"  # what the served replica sees: the TCP peer


def urls(engine: str, request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """Stores both replicas share."""
    if engine == "sqlite":
        return {"database_url": f"sqlite:///{tmp_path}/shared.db"}
    if engine == "redis":
        server = request.getfixturevalue("redis_server")
        return {"database_url": f"sqlite:///{tmp_path}/shared.db", "session_store_url": server.url}
    return {"database_url": request.getfixturevalue("clean_sql_url")(engine)}


def handled(server: Any) -> int:
    """Refreshes the served replica has answered (its access log)."""
    return server.log().count('"route":"/auth/refresh"')


@pytest.mark.parametrize("engine", ["sqlite", "postgresql", "mariadb", "redis"])
async def test_a_frozen_replica_resumed_revokes_nobody(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    master = new_master_key()
    stores = urls(engine, request, tmp_path)
    settings = Settings(master_key=master, store_timeout=1.0, **stores, **FAST_ARGON2)
    here = build_runtime(settings)
    await here.start()  # migrates the shared stores first
    env = {"KEYTURN_MASTER_KEY": master, "KEYTURN_STORE_TIMEOUT": "1", "KEYTURN_LOG_FORMAT": "json"}
    env.update({f"KEYTURN_{k.upper()}": v for k, v in stores.items()})
    served = await asyncio.to_thread(start_server, tmp_path, env)
    try:
        tokens = []
        for i in range(USERS):
            await here.service.create_user(f"user{i}", PASSWORD)
            pair = await here.service.login(f"user{i}", PASSWORD, ip=IP, user_agent=UA)
            tokens.append(pair)
        before = handled(served)
        served.process.send_signal(signal.SIGSTOP)
        try:
            async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT, headers={"user-agent": UA}) as http:
                answers = await asyncio.gather(
                    *(http.post(served.url + "/auth/refresh", json={"refresh_token": t.refresh_token}) for t in tokens),
                    return_exceptions=True,
                )
            assert all(isinstance(a, httpx.TimeoutException) for a in answers), answers
            # The clients retry on the other replica and go on refreshing there.
            for i, t in enumerate(tokens):
                first = await here.service.refresh(t.refresh_token, ip=IP, user_agent=UA)
                tokens[i] = await here.service.refresh(first.refresh_token, ip=IP, user_agent=UA)
        finally:
            served.process.send_signal(signal.SIGCONT)
        deadline = time.monotonic() + 30
        while handled(served) < before + USERS and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert handled(served) == before + USERS, served.log()[-2000:]  # it did act on what it held
        revoked = [t.session_id for t in tokens if (await here.stores.sessions.get_session(t.session_id)).revoked_at]
        events = [json.loads(e.detail) for e in await here.stores.events.list_events(limit=1000)
                  if e.type == "refresh_token_reused"]
        assert (len(revoked), len(events)) == (0, 0), (revoked, events)
        for t in tokens:  # every client goes on with the token it holds
            assert (await here.service.refresh(t.refresh_token, ip=IP, user_agent=UA)).session_id == t.session_id
    finally:
        stop_server(served)
        await here.close()


async def test_a_thief_still_connected_is_caught_by_a_real_replica(tmp_path: Path) -> None:
    """The gate asks whether the client has gone, not whether it is honest:
    a copy presented by a client that waits for its answer is theft."""
    master = new_master_key()
    database = f"sqlite:///{tmp_path}/shared.db"
    here = build_runtime(Settings(master_key=master, database_url=database, reuse_interval=0, **FAST_ARGON2))
    await here.start()
    served = await asyncio.to_thread(
        start_server, tmp_path, {"KEYTURN_MASTER_KEY": master, "KEYTURN_DATABASE_URL": database,
                                 "KEYTURN_REUSE_INTERVAL": "0"},
    )
    try:
        await here.service.create_user("alice", PASSWORD)
        pair = await here.service.login("alice", PASSWORD, ip=IP, user_agent=UA)
        await here.service.refresh(pair.refresh_token, ip=IP, user_agent=UA)
        await asyncio.sleep(0.01)  # out of the (zero) grace window
        async with httpx.AsyncClient(timeout=30, headers={"user-agent": "thief/1"}) as http:
            r = await http.post(served.url + "/auth/refresh", json={"refresh_token": pair.refresh_token})
        assert (r.status_code, r.json()["code"]) == (401, "refresh_token_reused")
        assert (await here.stores.sessions.get_session(pair.session_id)).revoke_reason == "reuse"
    finally:
        stop_server(served)
        await here.close()
