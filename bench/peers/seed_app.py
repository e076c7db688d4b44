"""Seed-style peer: FastAPI + PyJWT (HS256) + redis-py asyncio.

Refresh is ``PATCH /reissue`` with the refresh token in a ``Refresh`` header:
decode it, GET the stored token for the user, compare, mint a new pair and
SET it with a TTL (two round trips).  With ``SEED_ATOMIC=1`` the
compare-and-set is one EVALSHA instead, which is the fair baseline for a
one-round-trip design."""

from __future__ import annotations

import os
import time
import uuid

import jwt
import redis.asyncio as aioredis
from fastapi import FastAPI, Header, HTTPException
from fastapi.responses import ORJSONResponse
from pydantic import BaseModel

SECRET = os.environ.get("SEED_SECRET", "bench-secret-" + "x" * 32)
ACCESS_TTL = 30 * 60
REFRESH_TTL = 2 * 24 * 3600
ATOMIC = os.environ.get("SEED_ATOMIC") == "1"
PREFIX = os.environ.get("SEED_PREFIX", "seed:")
CAS = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"""

app = FastAPI(default_response_class=ORJSONResponse)
r = aioredis.from_url(os.environ.get("SEED_REDIS_URL", "redis://127.0.0.1:6379/0"))
cas_sha: str | None = None


class Login(BaseModel):
    username: str


def _pair(sub: str) -> tuple[str, str]:
    now = int(time.time())
    access = jwt.encode({"sub": sub, "type": "access", "iat": now, "exp": now + ACCESS_TTL,
                         "jti": uuid.uuid4().hex}, SECRET, algorithm="HS256")
    refresh = jwt.encode({"sub": sub, "type": "refresh", "iat": now, "exp": now + REFRESH_TTL,
                          "jti": uuid.uuid4().hex}, SECRET, algorithm="HS256")
    return access, refresh


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/login")
async def login(body: Login) -> dict[str, str]:
    access, refresh = _pair(body.username)
    await r.set(PREFIX + body.username, refresh, ex=REFRESH_TTL)
    return {"access_token": access, "refresh_token": refresh}


@app.patch("/reissue")
async def reissue(refresh: str | None = Header(default=None)) -> dict[str, str]:
    global cas_sha
    if not refresh:
        raise HTTPException(400, "missing Refresh header")
    try:
        claims = jwt.decode(refresh, SECRET, algorithms=["HS256"])
    except jwt.PyJWTError:
        raise HTTPException(401, "invalid refresh token") from None
    if claims.get("type") != "refresh":
        raise HTTPException(401, "not a refresh token")
    sub = claims["sub"]
    access, new_refresh = _pair(sub)
    if ATOMIC:
        if cas_sha is None:
            cas_sha = await r.script_load(CAS)
        ok = await r.evalsha(cas_sha, 1, PREFIX + sub, refresh, new_refresh, REFRESH_TTL)
        if not ok:
            raise HTTPException(401, "refresh token mismatch")
    else:
        stored = await r.get(PREFIX + sub)
        if stored is None or stored.decode() != refresh:
            raise HTTPException(401, "refresh token mismatch")
        await r.set(PREFIX + sub, new_refresh, ex=REFRESH_TTL)
    return {"access_token": access, "refresh_token": new_refresh}
