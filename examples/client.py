"""A client script: log in once, then call a resource server with TokenAuth,
which keeps the token fresh (tokens kept in a 0600 file between runs).

    KEYTURN_URL=http://127.0.0.1:8000 RESOURCE_URL=http://127.0.0.1:8001 \\
        KEYTURN_USERNAME=alice KEYTURN_PASSWORD=... python examples/client.py
"""

from __future__ import annotations

import os

import httpx

from keyturn.client import FileStorage, SessionEnded, TokenAuth


def main() -> int:
    auth = TokenAuth(
        os.environ["KEYTURN_URL"],
        username=os.environ.get("KEYTURN_USERNAME"),
        password=os.environ.get("KEYTURN_PASSWORD"),
        storage=FileStorage(os.environ.get("KEYTURN_TOKEN_FILE", os.path.expanduser("~/.keyturn-tokens.json"))),
    )
    with httpx.Client(base_url=os.environ["RESOURCE_URL"], auth=auth) as http:
        try:
            r = http.get("/hello")
        except SessionEnded as exc:
            print(f"session ended ({exc.code}); log in again")
            return 1
        r.raise_for_status()
        print(r.json()["message"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
