"""The examples run: a FastAPI resource server behind the Verifier, and a
client script with TokenAuth."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.client.live import CLIENT_ID, CLIENT_SECRET, Live, example_server, live_server
from tests.conftest import PASSWORD

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    yield from live_server(tmp_path_factory)


def answers(url: str) -> bool:
    httpx.get(url + "/hello", timeout=1)  # any answer, 401 included: it is up
    return True


@pytest.fixture
def resource_server(live: Live, tmp_path: Path) -> Iterator[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KEYTURN_URL": live.url,
           "KEYTURN_CLIENT_ID": CLIENT_ID, "KEYTURN_CLIENT_SECRET": CLIENT_SECRET}
    with example_server("resource_server.py", env, tmp_path, ready=answers, wait=30) as url:
        yield url


def run_client(live: Live, resource: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KEYTURN_URL": live.url, "RESOURCE_URL": resource,
           "KEYTURN_USERNAME": "alice", "KEYTURN_PASSWORD": PASSWORD,
           "KEYTURN_TOKEN_FILE": str(tmp_path / "tokens.json")}
    return subprocess.run([sys.executable, str(ROOT / "examples" / "client.py")], env=env,
                          capture_output=True, text=True, timeout=60)


def test_client_script_calls_the_resource_server(live: Live, resource_server: str, tmp_path: Path) -> None:
    first = run_client(live, resource_server, tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("hello ")
    second = run_client(live, resource_server, tmp_path)  # from the stored tokens
    assert second.returncode == 0 and second.stdout == first.stdout


def test_resource_server_refuses_without_a_token(resource_server: str) -> None:
    r = httpx.get(resource_server + "/hello")
    assert r.status_code == 401
    assert r.json()["code"] == "token_invalid"
    assert r.headers["www-authenticate"].startswith("Bearer ")


def _end_by_logout(live: Live, resource: str, tokens: dict[str, Any], token_file: Path) -> None:
    """The person signs out on the token service while the script's access token is still valid."""
    bearer = {"authorization": f"Bearer {tokens['access_token']}"}
    r = httpx.post(live.url + "/auth/logout", headers=bearer)
    assert r.status_code == 204, r.text
    # The resource server learns of it from the revocation feed: wait (bounded) until it does.
    deadline = time.monotonic() + 30
    while httpx.get(resource + "/hello", headers=bearer).status_code == 200:
        assert time.monotonic() < deadline, "the resource server never heard of the logout"
        time.sleep(0.1)


def _end_from_another_device(live: Live, resource: str, tokens: dict[str, Any], token_file: Path) -> None:
    """Another device of the same person signs this session out; the script's token is due for refresh."""
    other = live.login()
    r = httpx.delete(live.url + f"/auth/sessions/{tokens['session_id']}",
                     headers={"authorization": f"Bearer {other['access_token']}"})
    assert r.status_code == 204, r.text
    token_file.write_text(json.dumps({**tokens, "obtained_at": time.time() - 3600}))


@pytest.mark.parametrize("end_session", [_end_by_logout, _end_from_another_device])
def test_client_script_says_when_the_session_ended(
    live: Live, resource_server: str, tmp_path: Path, end_session: Callable[[Live, str, dict[str, Any], Path], None],
) -> None:
    assert run_client(live, resource_server, tmp_path).returncode == 0
    token_file = tmp_path / "tokens.json"
    end_session(live, resource_server, json.loads(token_file.read_text()), token_file)

    ended = run_client(live, resource_server, tmp_path)
    assert ended.returncode == 1, ended.stdout + ended.stderr
    assert "Traceback" not in ended.stderr
    assert len(ended.stderr.strip().splitlines()) == 1, ended.stderr
    assert ended.stderr.startswith("Signed out: the session was signed out elsewhere"), ended.stderr
    assert ended.stdout == ""

    again = run_client(live, resource_server, tmp_path)  # the next run logs in afresh
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("hello ")


def test_resource_server_example_refuses_to_run_without_the_feed() -> None:
    """Without feed credentials it would accept signed-out users' tokens: it
    says so and what to set (the generated ``kc_...`` id), in one line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYTURN_CLIENT")}
    env.update({"PYTHONPATH": str(ROOT), "KEYTURN_URL": "http://127.0.0.1:9"})
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "resource_server.py")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "KEYTURN_CLIENT_ID" in done.stderr and "kc_" in done.stderr and "Traceback" not in done.stderr
