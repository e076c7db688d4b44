"""TokenAuth against a real ``keyturn serve`` with a zero grace window: one
refresh however many requests, threads or processes are in the air."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from keyturn.client import FileStorage, TokenAuth, Tokens
from tests.client.conftest import ManualTime
from tests.client.live import TTL, Live, live_server
from tests.conftest import PASSWORD

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    yield from live_server(tmp_path_factory, users=("alice", "bob"))


def test_48_threads_across_expiry_one_refresh(live: Live) -> None:
    clock = ManualTime(wall=time.time())
    refreshes: list[Tokens] = []
    auth = TokenAuth(live.url, username="alice", password=PASSWORD, clock=clock, on_refresh=refreshes.append)
    with httpx.Client(base_url=live.url, auth=auth, timeout=30) as http:
        assert http.get("/auth/me").status_code == 200
        login = auth.tokens
        clock.advance(TTL)  # the access token is now expired as far as the client knows
        barrier = threading.Barrier(48)
        statuses: list[int] = []

        def one() -> None:
            barrier.wait()
            statuses.append(http.get("/auth/me").status_code)

        pool = [threading.Thread(target=one) for _ in range(48)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    assert statuses == [200] * 48
    assert len(refreshes) == 2  # login + one refresh
    assert login is not None and auth.tokens is not None and login.session_id == auth.tokens.session_id
    assert live.generation(auth.tokens.session_id or "") == 1
    assert live.live_sessions(auth.tokens.access_token) == 1


def test_two_processes_sharing_a_file_make_one_refresh(live: Live, tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    login = TokenAuth(live.url, username="bob", password=PASSWORD, storage=FileStorage(path))
    with httpx.Client(base_url=live.url, auth=login) as http:
        assert http.get("/auth/me").status_code == 200
    sid = login.tokens.session_id if login.tokens else None
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen([sys.executable, "-m", "tests.client._worker", live.url, str(path), "24", str(go)],
                         cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("go.ready.*"))) < 2 and time.monotonic() < deadline:
        assert all(p.poll() is None for p in procs), "a worker died before it was ready"
        time.sleep(0.01)
    go.touch()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err.decode()
        results.append(json.loads(out))
    assert [r["statuses"] for r in results] == [[200] * 25, [200] * 25]
    assert sum(r["refreshes"] for r in results) == 1
    assert sid is not None and live.generation(sid) == 1
    final = FileStorage(path).load()
    assert final is not None and final.session_id == sid
    assert live.live_sessions(final.access_token) == 1
