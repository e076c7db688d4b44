"""A real ``keyturn serve`` shared by a test module, with a user in it; an
example program served beside it."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from keyturn.service.masterkey import new_master_key
from tests.conftest import PASSWORD, Server, free_port, start_server, stop_server

CLIENT_ID, CLIENT_SECRET = "rs-test", "rs-test-secret-0123456789"
TTL = 10  # the shortest access-token lifetime the settings allow
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@dataclass
class Live:
    server: Server
    tmp: Path

    @property
    def url(self) -> str:
        return self.server.url

    def login(self, username: str = "alice") -> dict[str, object]:
        r = httpx.post(self.url + "/auth/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        body: dict[str, object] = r.json()
        return body

    def generation(self, session_id: str) -> int:
        """The session's rotation count, read from the server's own database."""
        with sqlite3.connect(self.tmp / "keyturn.db") as db:
            row = db.execute("SELECT generation FROM kt_sessions WHERE id = ?", (session_id,)).fetchone()
        return int(row[0])

    def live_sessions(self, access_token: str) -> int:
        r = httpx.get(self.url + "/auth/sessions", headers={"authorization": f"Bearer {access_token}"})
        assert r.status_code == 200, r.text
        return len(r.json()["sessions"])


def live_server(tmp_path_factory: pytest.TempPathFactory, users: tuple[str, ...] = ("alice",)) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("live")
    server = start_server(tmp, {
        "KEYTURN_MASTER_KEY": new_master_key(),
        "KEYTURN_REUSE_INTERVAL": "0",
        "KEYTURN_ACCESS_TOKEN_TTL": str(TTL),
        "KEYTURN_RESOURCE_CLIENTS": f"{CLIENT_ID}:{CLIENT_SECRET}",
    })
    try:
        for name in users:
            r = httpx.post(server.url + "/auth/register", json={"username": name, "password": PASSWORD})
            assert r.status_code == 201, r.text
        yield Live(server, tmp)
    finally:
        stop_server(server)


@contextlib.contextmanager
def example_server(script: str, env: dict[str, str], tmp: Path, *, ready: Callable[[str], bool],
                   wait: float = 60) -> Iterator[str]:
    """``examples/<script> --port N`` as a process; its URL once ``ready(url)``
    says so (an HTTP error means not yet). Stopped by its PID."""
    port = free_port()
    log_path = tmp / f"{Path(script).stem}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, str(EXAMPLES / script), "--port", str(port)],
                                env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + wait
        while True:
            assert proc.poll() is None, log_path.read_text()
            with contextlib.suppress(httpx.HTTPError):
                if ready(url):
                    break
            assert time.monotonic() < deadline, f"examples/{script} did not start"
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=15)
