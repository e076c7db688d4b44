"""A seed-style token API, as teams hand-write it, for ``keyturn audit`` to
find fault with. Run: ``python tests/audit/seed_app.py --port N --variant V``.

``seed`` (the usual holes): HS256 JWT access and refresh tokens; the refresh
token kept per user in a store that answers over the "network" (every call
awaits), compared with GET then SET — so concurrent refreshes all pass the
compare and fork the session; ``PATCH /reissue`` with the ``Refresh``
header; no reuse detection; any valid JWT works as the bearer; logout
deletes the stored refresh token but the access token lives on.

``fixed`` (half-mended): the compare-and-set is atomic and the bearer must
be an access token, but reuse is still not detected and logout still leaves
the access token alive.

``GET /__requests`` (not part of the API) says how many requests came in,
so a test can check the audit's request budget from the server's side.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import time
from typing import Any

import jwt
from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

ACCESS_TTL = 30 * 60
LATENCY = 0.02
REFRESH_TTL = 2 * 24 * 3600


class Login(BaseModel):
    username: str
    password: str


class NetworkStore:
    """A dict that makes every call wait, as a store across the network does
    (20 ms: a slow link, and wide enough for the race to show when the test
    machine itself is busy; the audit hits 5 ms windows on an idle one)."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    async def get(self, key: str) -> str | None:
        await asyncio.sleep(LATENCY)
        return self.data.get(key)

    async def set(self, key: str, value: str) -> None:
        await asyncio.sleep(LATENCY)
        self.data[key] = value

    async def delete(self, key: str) -> None:
        await asyncio.sleep(LATENCY)
        self.data.pop(key, None)


def create_app(variant: str, users: dict[str, str]) -> FastAPI:
    fixed = variant == "fixed"
    secret = secrets.token_hex(32)
    store = NetworkStore()
    lock = asyncio.Lock()
    app = FastAPI()
    counter = {"requests": 0}

    @app.middleware("http")
    async def count(request: Request, call_next: Any) -> Any:
        if request.url.path != "/__requests":
            counter["requests"] += 1
        return await call_next(request)

    def issue(user: str, kind: str, ttl: int) -> str:
        now = int(time.time())
        claims = {"sub": user, "type": kind, "jti": secrets.token_hex(8), "iat": now, "exp": now + ttl}
        return jwt.encode(claims, secret, algorithm="HS256")

    def pair(user: str) -> dict[str, Any]:
        return {"grantType": "Bearer", "accessToken": issue(user, "access", ACCESS_TTL),
                "refreshToken": issue(user, "refresh", REFRESH_TTL), "accessTokenExpiresIn": ACCESS_TTL}

    def decode(token: str) -> dict[str, Any] | None:
        try:
            claims: dict[str, Any] = jwt.decode(token, secret, algorithms=["HS256"])
        except jwt.PyJWTError:
            return None
        return claims

    def bearer(authorization: str | None) -> dict[str, Any] | None:
        if not authorization or not authorization.startswith("Bearer "):
            return None
        claims = decode(authorization[7:])
        if claims is None or (fixed and claims.get("type") != "access"):
            return None
        return claims

    def unauthorized(message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=401)

    @app.post("/login")
    async def login(body: Login) -> Any:
        expected = users.get(body.username)
        if expected is None or not secrets.compare_digest(expected, body.password):
            return unauthorized("bad credentials")
        tokens = pair(body.username)
        await store.set(body.username, tokens["refreshToken"])
        return tokens

    @app.patch("/reissue")
    async def reissue(refresh: str | None = Header(None)) -> Any:
        if not refresh:
            return JSONResponse({"error": "missing refresh header"}, status_code=400)
        claims = decode(refresh)
        if claims is None or claims.get("type") != "refresh":
            return unauthorized("invalid refresh token")
        user = str(claims["sub"])
        if fixed:
            async with lock:  # compare-and-set as one step
                if await store.get(user) != refresh:
                    return unauthorized("refresh token mismatch")
                tokens = pair(user)
                await store.set(user, tokens["refreshToken"])
            return tokens
        if await store.get(user) != refresh:  # GET ...
            return unauthorized("refresh token mismatch")
        tokens = pair(user)
        await store.set(user, tokens["refreshToken"])  # ... then SET: not atomic
        return tokens

    @app.get("/me")
    async def me(authorization: str | None = Header(None)) -> Any:
        claims = bearer(authorization)
        if claims is None:
            return unauthorized("invalid token")
        return {"username": claims["sub"]}

    @app.post("/logout")
    async def logout(authorization: str | None = Header(None)) -> Any:
        claims = bearer(authorization)
        if claims is None:
            return unauthorized("invalid token")
        await store.delete(str(claims["sub"]))  # the access token is left to expire
        return {"ok": True}

    @app.get("/__requests")
    async def requests_seen() -> Any:
        return counter

    return app


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--variant", choices=["seed", "fixed"], default="seed")
    args = parser.parse_args()
    users = {os.environ.get("SEED_USERNAME", "auditor"): os.environ["SEED_PASSWORD"]}
    uvicorn.run(create_app(args.variant, users), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
