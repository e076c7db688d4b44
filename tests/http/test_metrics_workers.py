"""/metrics of ``keyturn serve --workers 2`` counts for the whole server.

Which worker answers a request is the kernel's choice, so the test finds
out instead of hoping: each keep-alive connection is matched to the worker
process that holds its socket (Linux ``/proc``), and the test goes on only
once connections to both workers exist.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from keyturn.service.masterkey import new_master_key
from tests.conftest import PASSWORD, Server, start_server, stop_server
from tests.http.test_metrics import samples

pytestmark = pytest.mark.slow

# The kernel hands each new connection to whichever worker accepts first; on a
# loaded machine one worker may win many times in a row, so allow plenty.
MAX_CONNECTIONS = 200


def workers_of(server: Server) -> list[int]:
    """The worker processes of a ``--workers N`` server (not its resource tracker)."""
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().name
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


def worker_for(client_port: int, server_port: int, workers: list[int]) -> int:
    """The worker holding the server end of the connection from ``client_port``."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1], fields[2]
        if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == client_port:
            inode = fields[9]
    assert inode is not None, f"no server socket for client port {client_port}"
    holders = [w for w in workers if inode in socket_inodes(w)]
    assert len(holders) == 1, holders
    return holders[0]


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[Server]:
    srv = start_server(tmp_path, {"KEYTURN_MASTER_KEY": new_master_key()}, workers=2)
    try:
        yield srv
    finally:
        stop_server(srv)


def logins(client: httpx.Client) -> float:
    r = client.get("/metrics")
    assert r.status_code == 200, r.text
    return samples(r.text).get(("keyturn_logins_total", (("outcome", "success"),)), 0.0)


def test_every_worker_reports_the_logins_of_all_workers(two_workers: Server) -> None:
    server_port = int(two_workers.url.rsplit(":", 1)[1])
    workers = workers_of(two_workers)
    assert len(workers) == 2, workers
    assert httpx.post(two_workers.url + "/auth/register",
                      json={"username": "alice", "password": PASSWORD}).status_code == 201

    # One login per connection until both workers have taken at least one.
    clients: dict[int, httpx.Client] = {}
    seen: set[int] = set()
    try:
        while len(clients) < MAX_CONNECTIONS and len(seen) < 2:
            client = httpx.Client(base_url=two_workers.url, timeout=30)
            r = client.post("/auth/login", json={"username": "alice", "password": PASSWORD})
            assert r.status_code == 200, r.text
            port = r.extensions["network_stream"].get_extra_info("client_addr")[1]
            worker = worker_for(port, server_port, workers)
            clients[worker * 100_000 + port] = client
            seen.add(worker)
            time.sleep(0.02)  # let the other worker reach accept()
        assert seen == set(workers), "the kernel gave every connection to one worker"
        # Each connection stays with its worker: both workers answer, both count all.
        answers = {key: logins(client) for key, client in clients.items()}
        assert set(answers.values()) == {float(len(clients))}, answers
        shared_dir = Path(dict(
            line.split("=", 1) for line in Path(f"/proc/{workers[0]}/environ").read_text().split("\0") if "=" in line
        )["PROMETHEUS_MULTIPROC_DIR"])
        assert shared_dir.is_dir()
    finally:
        for client in clients.values():
            client.close()

    stop_server(two_workers)
    assert not shared_dir.exists(), "serve leaves its metrics directory behind"
