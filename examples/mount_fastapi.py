"""Mount keyturn in an existing FastAPI app: one process, one lifespan.

The app keeps its own users and its own login; after checking a password it
asks keyturn for a session (``issue_session``), and keyturn's routes
(``/auth/refresh``, ``/auth/logout``, ``/.well-known/jwks.json``, …) run in
the same process. See docs/adopt.md.

    KEYTURN_DATABASE_URL=sqlite:///./app.db python examples/mount_fastapi.py --port 8000
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel
from starlette.responses import Response

from keyturn.config import load_settings
from keyturn.http.app import create_app
from keyturn.errors import KeyturnError
from keyturn.http.wire import error_response, token_response
from keyturn.service.wiring import build_runtime

# --- the app's own users: its table, its hashes, its roles --------------------

SALT = b"example-salt"  # per user in a real table


def password_hash(password: str) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), SALT, 100_000)


USERS: dict[str, dict[str, Any]] = {
    "ada": {"id": "u-1001", "hash": password_hash("ada-secret-password"), "roles": ["admin"]},
    "bob": {"id": "u-1002", "hash": password_hash("bob-secret-password"), "roles": ["reader"]},
}
_NOBODY = password_hash("no such user")

# --- keyturn, in this process -------------------------------------------------

runtime = build_runtime(load_settings())
keyturn_app = create_app(runtime=runtime)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with keyturn_app.router.lifespan_context(keyturn_app):  # keyturn's stores and keys start here
        yield


app = FastAPI(lifespan=lifespan)


class LoginBody(BaseModel):
    username: str
    password: str


@app.post("/login")
async def login(body: LoginBody, request: Request) -> Response:
    """The app's own login; keyturn only opens the session."""
    user = USERS.get(body.username)
    ok = hmac.compare_digest(password_hash(body.password), user["hash"] if user else _NOBODY)
    if user is None or not ok:
        raise HTTPException(401, "wrong username or password")
    pair = await runtime.service.issue_session(
        user["id"], claims={"roles": user["roles"]}, scope="read",
        ip=request.client.host if request.client else None, user_agent=request.headers.get("user-agent"),
    )
    return token_response(pair)  # the same answer as keyturn's /auth/login


@app.get("/whoami")
async def whoami(request: Request) -> Any:
    """A route of the app, checking keyturn's access token in process."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "a bearer token is required")
    try:
        claims = await runtime.service.check_access(token)
    except KeyturnError as exc:
        return error_response(exc)  # 401 with keyturn's code (token_expired: refresh and retry)
    return {"user": claims.sub, "roles": list(claims.roles), "client_id": claims.client_id}


app.mount("/", keyturn_app)  # last: the app's own routes are matched first


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
