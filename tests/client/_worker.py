"""One of the processes sharing a token file (run by test_live.py).

argv: base_url token_file threads go_at(wall time) ; prints a JSON summary.
"""

from __future__ import annotations

import json
import sys
import threading
import time

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
    url, path, threads, go_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    clock = OffsetTime()
    refreshes: list[Tokens] = []
    auth = TokenAuth(url, storage=FileStorage(path), clock=clock, on_refresh=refreshes.append)
    statuses: list[int] = []
    with httpx.Client(base_url=url, auth=auth, timeout=30) as http:
        statuses.append(http.get("/auth/me").status_code)  # loads the shared file
        time.sleep(max(0.0, go_at - time.time()))
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
