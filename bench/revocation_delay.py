"""How long from logout to rejection at a resource server's Verifier.

Starts a real ``keyturn serve``, then for each mode (poll every 2 s, the
default; long-poll) logs in, logs out and times until ``verify`` raises
``TokenRevoked``. Run: ``PYTHONPATH=. python bench/revocation_delay.py [trials]``.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from keyturn.errors import TokenRevoked
from keyturn.resource.verifier import Verifier
from keyturn.service.masterkey import new_master_key
from tests.conftest import PASSWORD, start_server, stop_server


def one(url: str, verifier: Verifier) -> float:
    access = httpx.post(url + "/auth/login", json={"username": "alice", "password": PASSWORD}).json()["access_token"]
    verifier.verify(access)
    httpx.post(url + "/auth/logout", headers={"authorization": f"Bearer {access}"})
    start = time.monotonic()
    while time.monotonic() - start < 15:
        try:
            verifier.verify(access)
        except TokenRevoked:
            return time.monotonic() - start
        time.sleep(0.002)
    raise RuntimeError("never revoked")


def main() -> None:
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp), {"KEYTURN_MASTER_KEY": new_master_key(), "KEYTURN_RESOURCE_CLIENTS": "rs:s"})
        try:
            httpx.post(server.url + "/auth/register", json={"username": "alice", "password": PASSWORD})
            for mode, wait in (("poll every 2 s", 0.0), ("long-poll", 20.0)):
                with Verifier.for_service(server.url, issuer="keyturn", audience="keyturn",
                                          client_id="rs", client_secret="s", poll_wait=wait) as verifier:
                    delays = [one(server.url, verifier) for _ in range(trials)]
                print(f"{mode}: median {statistics.median(delays) * 1000:.0f} ms, "
                      f"max {max(delays) * 1000:.0f} ms over {trials}")
        finally:
            stop_server(server)


if __name__ == "__main__":
    main()
