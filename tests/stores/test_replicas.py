"""Replicas: two ``keyturn serve`` processes sharing one PostgreSQL database
and one Redis agree on every refresh and on the signing keys."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from keyturn.service.masterkey import new_master_key
from tests.conftest import PASSWORD, Server, start_server, stop_server
from tests.stores.backends import wipe_database, wipe_redis_prefix
from tests.stores.conftest import unique_prefix

pytestmark = pytest.mark.slow  # starts two keyturn serve processes


@pytest.fixture
def replicas(tmp_path: Path, postgres_url: str, redis_url: str) -> Iterator[tuple[Server, Server]]:
    wipe_database(postgres_url)
    prefix = unique_prefix()
    env = {
        "KEYTURN_DATABASE_URL": postgres_url,
        "KEYTURN_SESSION_STORE_URL": redis_url,
        "KEYTURN_REDIS_KEY_PREFIX": prefix,
        "KEYTURN_MASTER_KEY": new_master_key(),  # shared: both read the same keys
    }
    dirs = [tmp_path / "a", tmp_path / "b"]
    for d in dirs:
        d.mkdir()
    # Start both at once on an empty database: they race to create the
    # first signing key and must still agree on one.
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(start_server, d, env) for d in dirs]
        servers = [f.result() for f in futures]
    try:
        yield servers[0], servers[1]
    finally:
        for s in servers:
            stop_server(s)
        wipe_redis_prefix(redis_url, prefix)


async def test_two_replicas_converge(replicas: tuple[Server, Server]) -> None:
    a, b = replicas
    async with httpx.AsyncClient(timeout=30) as client:
        jwks = [(await client.get(s.url + "/.well-known/jwks.json")).json() for s in (a, b)]
        assert jwks[0] == jwks[1]
        assert len(jwks[0]["keys"]) == 1
        user = {"username": "alice", "password": PASSWORD}
        assert (await client.post(a.url + "/auth/register", json=user)).status_code == 201
        r = await client.post(a.url + "/auth/login", json=user)
        assert r.status_code == 200
        tokens = r.json()
        # An access token minted by one replica verifies on the other.
        me = await client.get(b.url + "/auth/me", headers={"authorization": f"Bearer {tokens['access_token']}"})
        assert me.status_code == 200, me.text
        answers = await asyncio.gather(*(
            client.post((a, b)[i % 2].url + "/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
            for i in range(100)
        ))
    assert [r.status_code for r in answers] == [200] * 100
    assert len({r.json()["refresh_token"] for r in answers}) == 1
