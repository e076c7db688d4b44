"""Against a real ``keyturn serve`` process: concurrency through real HTTP,
restarts, the generated master key, and what the database file holds."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import httpx
import pytest

from keyturn.core import refresh as rt
from tests.conftest import PASSWORD, Server, start_server, stop_server

pytestmark = pytest.mark.slow


def login(url: str, username: str = "alice") -> dict[str, str]:
    with httpx.Client(base_url=url, timeout=10) as c:
        r = c.post("/auth/register", json={"username": username, "password": PASSWORD})
        assert r.status_code in (201, 409), r.text
        r = c.post("/auth/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        body: dict[str, str] = r.json()
        return body


async def concurrent_refreshes(url: str, token: str, n: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=n)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as c:
        return list(await asyncio.gather(*(c.post("/auth/refresh", json={"refresh_token": token}) for _ in range(n))))


def test_64_concurrent_refreshes_make_exactly_one_successor(server: Server) -> None:
    tokens = login(server.url)
    answers = asyncio.run(concurrent_refreshes(server.url, tokens["refresh_token"], 64))
    assert [a.status_code for a in answers] == [200] * 64, {a.text for a in answers if a.status_code != 200}
    successors = {a.json()["refresh_token"] for a in answers}
    assert len(successors) == 1
    assert len({a.json()["access_token"] for a in answers}) == 64
    # Exactly one rotation happened: the successor is generation 1 and rotates normally.
    (successor,) = successors
    parsed = rt.parse(successor)
    assert parsed is not None and parsed.generation == 1
    with httpx.Client(base_url=server.url) as c:
        assert c.post("/auth/refresh", json={"refresh_token": successor}).status_code == 200


def test_concurrent_refreshes_with_zero_window_revoke_nothing_twice(tmp_path: Path) -> None:
    """With no grace window, the racers that lose see reuse; the session
    ends up revoked exactly once and no second successor exists."""
    srv = start_server(tmp_path, {"KEYTURN_REUSE_INTERVAL": "0"})
    try:
        tokens = login(srv.url)
        answers = asyncio.run(concurrent_refreshes(srv.url, tokens["refresh_token"], 32))
        ok = [a for a in answers if a.status_code == 200]
        assert len({a.json()["refresh_token"] for a in ok}) <= 1
        codes = {a.json()["code"] for a in answers if a.status_code != 200}
        assert codes <= {"refresh_token_reused", "session_revoked"}
    finally:
        stop_server(srv)


def test_sessions_and_access_tokens_survive_a_restart(tmp_path: Path) -> None:
    srv = start_server(tmp_path)  # no master key configured: generated next to the database
    try:
        key_file = tmp_path / "keyturn.db.master-key"
        assert key_file.exists()
        assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
        assert "generated a master key" in srv.log()
        tokens = login(srv.url)
    finally:
        stop_server(srv)
    srv = start_server(tmp_path, port=int(srv.url.rsplit(":", 1)[1]))
    try:
        with httpx.Client(base_url=srv.url) as c:
            r = c.get("/auth/me", headers={"authorization": f"Bearer {tokens['access_token']}"})
            assert r.status_code == 200
            assert c.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code == 200
    finally:
        stop_server(srv)


def test_database_holds_nothing_that_rebuilds_a_live_token(server: Server, tmp_path: Path) -> None:
    tokens = login(server.url)
    with httpx.Client(base_url=server.url) as c:
        live = c.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).json()["refresh_token"]
    stop_server(server)  # flush the WAL into the database file
    blob = b"".join(p.read_bytes() for p in tmp_path.glob("keyturn.db*") if not p.name.endswith("master-key"))
    secret = live[len("krt_") + 22 + 1 :]  # by position: base64url may itself contain "_"
    parsed = rt.parse(live)
    assert parsed is not None
    for needle in (live.encode(), secret.encode(), parsed.mac, rt.b64encode(parsed.mac).encode()):
        assert needle not in blob
    assert tokens["session_id"].encode() in blob  # the search does look at the right data


def test_bad_setting_stops_the_start_with_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {**os.environ, "KEYTURN_ACCESS_TOKEN_TTL": "soon", "KEYTURN_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    proc = subprocess.run([sys.executable, "-m", "keyturn", "serve"], env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "KEYTURN_ACCESS_TOKEN_TTL" in lines[0]
    assert "Traceback" not in proc.stderr


def test_wrong_master_key_is_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    from keyturn.service.masterkey import new_master_key

    srv = start_server(tmp_path, {"KEYTURN_MASTER_KEY": new_master_key()})
    stop_server(srv)
    env = {**srv.env, "KEYTURN_MASTER_KEY": new_master_key()}
    proc = subprocess.run([sys.executable, "-m", "keyturn", "serve", "--port", "1"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "KEYTURN_MASTER_KEY" in proc.stderr and "Traceback" not in proc.stderr
