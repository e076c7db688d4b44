"""A client script: log in once, then call a resource server with TokenAuth,
which keeps the token fresh (tokens kept in a 0600 file between runs).

    KEYTURN_URL=http://127.0.0.1:8000 RESOURCE_URL=http://127.0.0.1:8001 \\
        KEYTURN_USERNAME=alice KEYTURN_PASSWORD=... python examples/client.py

When the session ends (signed out on another device, revoked by an
administrator, a password change) the script says so in one line, forgets
the stored tokens and exits 1; the next run logs in again.
"""

from __future__ import annotations

import os
import sys

import httpx

from keyturn.client import (
    ClientConfigError,
    FileStorage,
    LoginFailed,
    SessionEnded,
    TokenAuth,
    TokenServiceUnavailable,
)

# What each way a session ends means to the person running the script.
ENDINGS = {
    "session_revoked": "the session was signed out elsewhere (a logout, a password change or an administrator)",
    "token_revoked": "the session was signed out elsewhere",
    "refresh_token_reused": "the session was ended because its refresh token was used twice (it may have been copied)",
    "refresh_token_expired": "the session expired after too long without use",
    "binding_mismatch": "the session belongs to another network or device",
}


def ended(code: str) -> str:
    return "Signed out: " + ENDINGS.get(code, f"the session ended ({code})") + ". Run again to log in."


def main() -> int:
    missing = [name for name in ("KEYTURN_URL", "RESOURCE_URL") if not os.environ.get(name)]
    if missing:
        print(f"Set {' and '.join(missing)} (see the top of examples/client.py).", file=sys.stderr)
        return 2
    try:
        return call(os.environ["KEYTURN_URL"], os.environ["RESOURCE_URL"])
    except ClientConfigError as exc:
        print(f"Check KEYTURN_URL: {exc}", file=sys.stderr)
        return 2


def call(keyturn_url: str, resource_url: str) -> int:
    auth = TokenAuth(
        keyturn_url,
        username=os.environ.get("KEYTURN_USERNAME"),
        password=os.environ.get("KEYTURN_PASSWORD"),
        storage=FileStorage(os.environ.get("KEYTURN_TOKEN_FILE", os.path.expanduser("~/.keyturn-tokens.json"))),
    )
    with httpx.Client(base_url=resource_url, auth=auth) as http:
        try:
            r = http.get("/hello")
        except SessionEnded as exc:  # a refresh was refused for good; the stored tokens are gone
            print(ended(exc.code), file=sys.stderr)
            return 1
        except LoginFailed as exc:
            print(f"Login refused ({exc.code}): check KEYTURN_USERNAME and KEYTURN_PASSWORD.", file=sys.stderr)
            return 1
        except TokenServiceUnavailable as exc:
            print(f"The token service cannot answer now ({exc.code}); try again shortly.", file=sys.stderr)
            return 1
        except httpx.TransportError as exc:
            print(f"The resource server cannot be reached: {exc}", file=sys.stderr)
            return 1
    if r.status_code == 401:
        # The access token itself was refused: revoked by a logout elsewhere
        # before it expired. A refresh cannot help; start over next time.
        auth.storage.clear()
        print(ended(r.json().get("code", "token_invalid")), file=sys.stderr)
        return 1
    r.raise_for_status()
    print(r.json()["message"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
