"""Real third-party clients (oauth4webapi, jose under node, from
tests/interop/package-lock.json: ``npm ci`` in this folder) against a real
``keyturn serve`` — on SQLite, and on PostgreSQL with Redis sessions."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from keyturn.service.masterkey import new_master_key
from tests.conftest import PASSWORD, Server, backend_unavailable, free_port, start_server, stop_server, lane

HERE = Path(__file__).parent
RS_ID, RS_SECRET = "interop-rs", "interop-rs-secret-0123456789"
BOUND = 60  # seconds: ends a hang, asserts no speed


def node_ready() -> None:
    if shutil.which("node") is None:
        backend_unavailable("node is not installed")
    if not (HERE / "node_modules" / "oauth4webapi").is_dir() or not (HERE / "node_modules" / "jose").is_dir():
        backend_unavailable("run `npm ci` in tests/interop (oauth4webapi and jose)")


@dataclass
class Deployment:
    name: str
    server: Server

    @property
    def url(self) -> str:
        return self.server.url

    def login(self, username: str = "alice") -> dict[str, Any]:
        r = httpx.post(self.url + "/auth/login", json={"username": username, "password": PASSWORD}, timeout=BOUND)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def node(self, cmd: str, **args: Any) -> dict[str, Any]:
        """One scenario of client.mjs; its JSON answer."""
        payload = json.dumps({"cmd": cmd, "issuer": self.url, "base": self.url, **args})
        done = subprocess.run(["node", str(HERE / "client.mjs"), payload], cwd=HERE, capture_output=True,
                              text=True, timeout=BOUND)
        assert done.returncode == 0, done.stderr
        out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return out

    def keys(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "keyturn", "keys", *args], env=self.server.env,
                              capture_output=True, text=True, timeout=BOUND, cwd=self.server.log_path.parent)
        assert done.returncode == 0, done.stderr
        return done.stdout


def _postgres_redis(tmp: Path) -> tuple[dict[str, str], Any]:
    from tests.stores.backends import POSTGRES_URL, REDIS_URL, create_database, drop_database

    try:
        database = create_database(POSTGRES_URL)
    except Exception as exc:  # noqa: BLE001 - reported by backend_unavailable
        backend_unavailable(f"PostgreSQL: {exc}")
    prefix = f"kt-interop-{secrets.token_hex(6)}"

    def cleanup() -> None:
        drop_database(POSTGRES_URL, database)
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        try:
            keys = list(client.scan_iter(match=prefix + "*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()

    return {"KEYTURN_DATABASE_URL": database, "KEYTURN_SESSION_STORE_URL": REDIS_URL,
            "KEYTURN_REDIS_KEY_PREFIX": prefix}, cleanup


@pytest.fixture(scope="module", params=["sqlite", "postgres+redis"])
@lane("slow", params={"postgres+redis": ["backend"]})
def deployment(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """A keyturn whose issuer is its URL (KEYTURN_PUBLIC_URL), with a
    resource client and two users; DPoP nonces on, so every DPoP scenario
    also runs RFC 9449 §8/§9 against the strict client."""
    node_ready()
    tmp = tmp_path_factory.mktemp("interop")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        "KEYTURN_MASTER_KEY": new_master_key(), "KEYTURN_PUBLIC_URL": url,
        "KEYTURN_RESOURCE_CLIENTS": f"{RS_ID}:{RS_SECRET}", "KEYTURN_DPOP_NONCE": "true",
        "KEYTURN_KEY_PUBLISH_AHEAD": "0", "KEYTURN_REUSE_INTERVAL": "0",
    }
    cleanup = None
    if request.param == "postgres+redis":
        extra, cleanup = _postgres_redis(tmp)
        env.update(extra)
    server = start_server(tmp, env, port=port)
    try:
        for name in ("alice", "bob"):
            r = httpx.post(url + "/auth/register", json={"username": name, "password": PASSWORD}, timeout=BOUND)
            assert r.status_code == 201, r.text
        yield Deployment(request.param, server)
    finally:
        stop_server(server)
        if cleanup is not None:
            cleanup()
