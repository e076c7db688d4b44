"""One of the processes sharing a token file (run by test_live.py).

argv: base_url token_file threads go_file ; prints a JSON summary. Each process
says it is ready (``<go_file>.ready.<pid>``) and starts when ``go_file`` exists,
so both start together however long the interpreter took to come up.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import httpx

from keyturn.client import FileStorage, TokenAuth, Tokens


class OffsetTime:
    """The real clocks, shifted by ``offset`` seconds once the test says so."""

    def __init__(self) -> None:
        self.offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def time(self) -> float:
        return time.time() + self.offset


def main() -> None:
    url, path, threads, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    clock = OffsetTime()
    refreshes: list[Tokens] = []
    auth = TokenAuth(url, storage=FileStorage(path), clock=clock, on_refresh=refreshes.append)
    statuses: list[int] = []
    with httpx.Client(base_url=url, auth=auth, timeout=30) as http:
        statuses.append(http.get("/auth/me").status_code)  # loads the shared file
        Path(f"{go}.ready.{os.getpid()}").touch()
        while not go.exists():
            time.sleep(0.005)
        clock.offset = 15.0  # past the 10 s token's expiry for both processes at once
        barrier = threading.Barrier(threads)

        def one() -> None:
            barrier.wait()
            statuses.append(http.get("/auth/me").status_code)

        pool = [threading.Thread(target=one) for _ in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    print(json.dumps({"statuses": statuses, "refreshes": len(refreshes)}))


if __name__ == "__main__":
    main()
