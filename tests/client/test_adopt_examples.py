"""docs/adopt.md in practice, against a real ``keyturn serve``: the Flask app
with its own users calling ``/backend/sessions``, keyturn mounted in a
FastAPI app, and the adapter example of docs/client.md as written."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from keyturn.service.masterkey import new_master_key
from tests.client.live import Live, example_server, live_server
from tests.conftest import FAST_ARGON2_ENV

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    yield from live_server(tmp_path_factory)


def cli(live: Live, *args: str) -> str:
    r = subprocess.run([sys.executable, "-m", "keyturn", *args], env=live.server.env, cwd=live.tmp,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", ROOT / "examples" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_flask_backend_example(live: Live, tmp_path: Path) -> None:
    out = cli(live, "clients", "add", "flask-web", "--scope", "sessions:issue")
    client_id = re.search(r"client_id: (\S+)", out).group(1)  # type: ignore[union-attr]
    secret = re.search(r"client_secret: (\S+)", out).group(1)  # type: ignore[union-attr]
    app = load_example("flask_backend").create_app(str(tmp_path / "app.db"), live.url, client_id, secret)
    web = app.test_client()
    assert web.post("/signup", json={"email": "ada@example.com", "password": "pw-1", "role": "admin"}).status_code == 201
    assert web.post("/login", json={"email": "ada@example.com", "password": "wrong"}).status_code == 401
    r = web.post("/login", json={"email": "ada@example.com", "password": "pw-1"})
    assert r.status_code == 200, r.get_data(as_text=True)
    tokens: dict[str, Any] = r.get_json()
    bearer = {"authorization": f"Bearer {tokens['access_token']}"}
    me = web.get("/me", headers=bearer).get_json()
    assert me == {"user_id": "1", "roles": ["admin"], "client_id": client_id}
    assert web.get("/admin", headers=bearer).status_code == 200
    # The browser or app refreshes with keyturn directly, as after a keyturn login.
    refreshed = httpx.post(live.url + "/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    assert web.get("/me", headers={"authorization": f"Bearer {refreshed.json()['access_token']}"}).status_code == 200
    # The app's own password change ends every session at keyturn.
    r = web.post("/password", json={"email": "ada@example.com", "password": "pw-1", "new_password": "pw-2"})
    assert r.get_json() == {"sessions_ended": 1}
    dead = httpx.post(live.url + "/auth/refresh", json={"refresh_token": refreshed.json()["refresh_token"]})
    assert dead.status_code == 401
    gone = httpx.get(live.url + "/auth/me", headers={"authorization": f"Bearer {refreshed.json()['access_token']}"})
    assert gone.json()["code"] == "token_revoked"
    # A member is no admin.
    web.post("/signup", json={"email": "bob@example.com", "password": "pw-b"})
    bob = web.post("/login", json={"email": "bob@example.com", "password": "pw-b"}).get_json()
    r = web.get("/admin", headers={"authorization": f"Bearer {bob['access_token']}"})
    assert r.status_code == 403 and r.get_json()["code"] == "insufficient_scope"


@pytest.fixture
def mounted(tmp_path: Path) -> Iterator[str]:
    env = {**os.environ, **FAST_ARGON2_ENV, "PYTHONPATH": str(ROOT), "KEYTURN_MASTER_KEY": new_master_key(),
           "KEYTURN_DATABASE_URL": f"sqlite:///{tmp_path}/app.db"}
    with example_server("mount_fastapi.py", env, tmp_path,
                        ready=lambda url: httpx.get(url + "/healthz", timeout=1).status_code == 200) as url:
        yield url


def test_mounted_in_a_fastapi_app(mounted: str) -> None:
    assert httpx.post(mounted + "/login", json={"username": "ada", "password": "nope"}).status_code == 401
    r = httpx.post(mounted + "/login", json={"username": "ada", "password": "ada-secret-password"})
    assert r.status_code == 200, r.text
    tokens = r.json()
    who = httpx.get(mounted + "/whoami", headers={"authorization": f"Bearer {tokens['access_token']}"}).json()
    assert who == {"user": "u-1001", "roles": ["admin"], "client_id": "keyturn-app"}
    # keyturn's own routes, same process: refresh, the JWKS, logout.
    r = httpx.post(mounted + "/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 200, r.text
    access = r.json()["access_token"]
    assert httpx.get(mounted + "/.well-known/jwks.json").json()["keys"]
    assert httpx.post(mounted + "/auth/logout", headers={"authorization": f"Bearer {access}"}).status_code == 204
    r = httpx.get(mounted + "/whoami", headers={"authorization": f"Bearer {access}"})
    assert r.status_code == 401 and r.json()["code"] == "token_revoked"


def docs_example(name: str) -> str:
    text = (ROOT / "docs" / "client.md").read_text()
    block = text.split(f"<!-- example: {name} -->", 1)[1]
    return block.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_scopes_example_of_client_md_as_written(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/client.md's adapter example, with only the service's address
    changed to this test's server."""
    from tests.resource.test_adapters import starlette_test_client

    out = cli(live, "clients", "add", "reports")
    monkeypatch.setenv("KEYTURN_CLIENT_ID", re.search(r"client_id: (\S+)", out).group(1))  # type: ignore[union-attr]
    monkeypatch.setenv("KEYTURN_CLIENT_SECRET", re.search(r"client_secret: (\S+)", out).group(1))  # type: ignore[union-attr]
    source = docs_example("scopes").replace("http://127.0.0.1:8000", live.url)
    namespace: dict[str, Any] = {}
    exec(compile(source, "docs/client.md", "exec"), namespace)  # noqa: S102 - our own documentation
    api = starlette_test_client()(namespace["app"])

    def bearer() -> dict[str, str]:
        return {"authorization": f"Bearer {live.login()['access_token']}"}

    r = api.get("/reports", headers=bearer())  # no scope yet: every request 403, as before this existed
    assert r.status_code == 403 and r.json()["code"] == "insufficient_scope"
    cli(live, "users", "set", "alice", "--scope", "read", "--claims", '{"tenant": "acme"}')
    r = api.get("/reports", headers=bearer())
    assert r.status_code == 200 and r.json() == {"user": r.json()["user"], "tenant": "acme", "client": "keyturn-app"}
    assert api.delete("/reports/7", headers=bearer()).status_code == 403  # no write, no admin
    cli(live, "users", "set", "alice", "--scope", "read write", "--claims", '{"tenant": "acme", "roles": ["admin"]}')
    r = api.delete("/reports/7", headers=bearer())
    assert r.status_code == 200 and r.json()["deleted"] == "7"
