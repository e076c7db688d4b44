"""No session is lost across a restart of keyturn, on any engine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from keyturn.service.masterkey import new_master_key
from tests.conftest import PASSWORD, start_server, stop_server
from tests.stores.backends import wipe_redis_prefix
from tests.stores.conftest import unique_prefix

pytestmark = pytest.mark.slow  # starts and restarts keyturn serve


@pytest.mark.parametrize("engine", ["sqlite", "postgresql", "mariadb", "redis", "redis-cluster"])
def test_sessions_survive_a_restart(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest, clean_sql_url: Callable[[str], str]
) -> None:
    env = {"KEYTURN_MASTER_KEY": new_master_key()}
    if engine in ("postgresql", "mariadb"):
        env["KEYTURN_DATABASE_URL"] = clean_sql_url(engine)
    elif engine.startswith("redis"):
        env["KEYTURN_SESSION_STORE_URL"] = request.getfixturevalue(
            "redis_url" if engine == "redis" else "redis_cluster_url"
        )
        env["KEYTURN_REDIS_KEY_PREFIX"] = unique_prefix()
    user = {"username": "alice", "password": PASSWORD}
    server = start_server(tmp_path, env)
    try:
        assert httpx.post(server.url + "/auth/register", json=user).status_code == 201
        tokens = httpx.post(server.url + "/auth/login", json=user).json()
    finally:
        stop_server(server)
    server = start_server(tmp_path, env)
    try:
        r = httpx.post(server.url + "/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert r.status_code == 200, r.text
        me = httpx.get(server.url + "/auth/me", headers={"authorization": f"Bearer {r.json()['access_token']}"})
        assert me.status_code == 200
    finally:
        stop_server(server)
        if engine == "redis":
            wipe_redis_prefix(env["KEYTURN_SESSION_STORE_URL"], env["KEYTURN_REDIS_KEY_PREFIX"])
