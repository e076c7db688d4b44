"""Two ``keyturn serve`` replicas on one database: ``keyturn keys rotate``
and ``keyturn keys revoke`` as an operator runs them, a Verifier on the
revocation feed, and a TokenAuth client that must never be logged out."""

from __future__ import annotations

import concurrent.futures
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from keyturn.client import TokenAuth
from keyturn.core.tokens import peek_kid
from keyturn.errors import KeyturnError
from keyturn.resource.verifier import Verifier
from keyturn.service.masterkey import new_master_key
from tests.conftest import PASSWORD, Server, start_server, stop_server

pytestmark = pytest.mark.slow  # starts two keyturn serve processes and the CLI

AHEAD = 3  # seconds a new key is published before any replica signs with it
BOUND = 60  # loop bound only: ends a hang, asserts no speed


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    env = {
        "KEYTURN_DATABASE_URL": f"sqlite:///{tmp_path}/shared.db",
        "KEYTURN_MASTER_KEY": new_master_key(),
        "KEYTURN_KEY_PUBLISH_AHEAD": str(AHEAD),
        "KEYTURN_RESOURCE_CLIENTS": "api:s3cret-s3cret-s3cret-s3cret",
    }
    dirs = [tmp_path / "a", tmp_path / "b"]
    for d in dirs:
        d.mkdir()
    first = start_server(dirs[0], env)  # creates the database and the first key
    try:
        second = start_server(dirs[1], env)
    except Exception:
        stop_server(first)
        raise
    try:
        yield first, second
    finally:
        for s in (first, second):
            stop_server(s)


def keys_cli(server: Server, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "keyturn", "keys", *args], env=server.env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def login(url: str) -> dict[str, str]:
    r = httpx.post(url + "/auth/login", json={"username": "alice", "password": PASSWORD}, timeout=30)
    assert r.status_code == 200, r.text
    return dict(r.json())


def me(url: str, token: str) -> httpx.Response:
    return httpx.get(url + "/auth/me", headers={"authorization": f"Bearer {token}"}, timeout=30)


def test_rotate_then_revoke_across_two_replicas(pair: tuple[Server, Server]) -> None:
    a, b = pair
    assert httpx.post(a.url + "/auth/register", json={"username": "alice", "password": PASSWORD}).status_code == 201
    verifier = Verifier.for_service(
        a.url, issuer="keyturn", audience="keyturn", client_id="api", client_secret="s3cret-s3cret-s3cret-s3cret",
        min_refetch_interval=3600, poll_wait=1.0,
    )
    verifier.start()  # warm JWKS cache; it will not refetch on an unknown kid
    try:
        old_kid = peek_kid(login(a.url)["access_token"])
        new_kid = keys_cli(a, "rotate").split()[-1]
        assert new_kid != old_kid
        # The new key is published at once; the verifier's cache gets it by
        # refetching the JWKS now, before any replica signs with it.
        for s in (a, b):
            deadline = time.monotonic() + BOUND
            while new_kid not in {k["kid"] for k in httpx.get(s.url + "/.well-known/jwks.json").json()["keys"]}:
                assert time.monotonic() < deadline, "the new key never appeared in the JWKS"
                time.sleep(0.2)
        verifier.refresh_keys()
        tokens: list[str] = []
        seen: dict[str, set[str | None]] = {a.url: set(), b.url: set()}
        deadline = time.monotonic() + BOUND
        while not all(new_kid in kids for kids in seen.values()):
            assert time.monotonic() < deadline, f"a replica never switched to the new key: {seen}"
            for s in (a, b):
                token = login(s.url)["access_token"]
                seen[s.url].add(peek_kid(token))
                tokens.append(token)
            time.sleep(0.2)
        # Every token either replica signed across the switch verifies at
        # both and at the verifier that never refetched.
        for token in tokens:
            assert me(a.url, token).status_code == 200
            assert me(b.url, token).status_code == 200
            assert verifier.verify(token).sub
        # A compromised key: revoked, refused everywhere within one feed
        # round, and a TokenAuth client recovers by refreshing.
        auth = TokenAuth(b.url, username="alice", password=PASSWORD)
        with httpx.Client(auth=auth, timeout=30) as client:
            assert client.get(b.url + "/auth/me").status_code == 200
            held = auth.tokens
            assert held is not None and peek_kid(held.access_token) == new_kid
            keys_cli(a, "revoke", new_kid)
            deadline = time.monotonic() + BOUND
            while True:
                codes = {me(s.url, held.access_token).json().get("code") for s in (a, b)}
                try:
                    verifier.verify(held.access_token)
                    refused = ""
                except KeyturnError as exc:
                    refused = exc.code
                if codes == {"signing_key_revoked"} and refused == "signing_key_revoked":
                    break
                assert time.monotonic() < deadline, f"still accepted: {codes} {refused!r}"
                time.sleep(0.2)
            r = client.get(a.url + "/auth/me")
            assert r.status_code == 200, r.text
            assert auth.tokens is not None and peek_kid(auth.tokens.access_token) not in (new_kid, None)
    finally:
        verifier.stop()
