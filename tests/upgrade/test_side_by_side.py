"""Release N beside release N-1 on one PostgreSQL and one Redis: a rolling
upgrade, and a rollback mid-way, log nobody out.

The previous release's code is taken from git (its commit is the last line
of releases.txt) and run as replicas with ``PYTHONPATH`` pointing at it, in
this environment (its dependencies are a subset of this release's). In
order: two old replicas serve; a new replica starts (and migrates the
schema); chained clients alternate between old and new replicas; an old
replica restarts after the migration (it must start); then the old replicas
retire and a second new replica takes over. Every refresh must be 200, every
access token accepted by the next replica: 0 logouts, 0 × 429; and a logout
on either release ends the session on the other.
"""

from __future__ import annotations

import secrets
import subprocess
import tarfile
from collections import Counter
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

import httpx
import pytest

from keyturn.service.masterkey import new_master_key
from tests.conftest import Server, backend_unavailable, free_port, require_backends, start_server, stop_server
from tests.stores import backends as b

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = 8
ROUNDS = 4


def previous_release() -> tuple[str, str]:
    """``(version, commit)`` of the newest release in releases.txt."""
    lines = [ln.split() for ln in (ROOT / "releases.txt").read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    version, commit = lines[-1]
    return version, commit


def extract_release(commit: str, into: Path) -> Path:
    """The release's ``keyturn`` package under ``into`` (``git archive``)."""
    try:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", commit, "keyturn"],
                                 capture_output=True, check=True, timeout=120).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        reason = f"the previous release's code ({commit}) is not in a git checkout here: {exc}"
        if require_backends():
            pytest.fail(reason)
        pytest.skip(reason)
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


@dataclass
class Client:
    """One user's chain of refresh tokens, wherever it is sent."""

    name: str
    refresh: str = ""
    access: str = ""
    trail: list[str] = field(default_factory=list)


@dataclass
class Fleet:
    env: dict[str, str]
    old_code: Path
    tmp: Path
    old: list[Server] = field(default_factory=list)
    new: list[Server] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)

    def start(self, code: Path | None, port: int | None = None) -> Server:
        """A replica of the old release (``code``) or of this tree (``None``)."""
        folder = self.tmp / f"replica-{secrets.token_hex(3)}"
        folder.mkdir()
        return start_server(folder, {**self.env, "PYTHONPATH": str(code or ROOT)}, port=port)

    def live(self) -> list[Server]:
        return [*self.old, *self.new]

    def record(self, what: str, response: httpx.Response) -> None:
        self.statuses[response.status_code] += 1
        if response.status_code != 200:
            self.failures.append(f"{what}: {response.status_code} {response.text[:200]}")


def log_in(fleet: Fleet, client: Client, server: Server) -> None:
    r = httpx.post(server.url + "/auth/register", json={"username": client.name, "password": "correct horse battery"},
                   timeout=30)
    assert r.status_code == 201, r.text
    r = httpx.post(server.url + "/auth/login", json={"username": client.name, "password": "correct horse battery"},
                   timeout=30)
    fleet.record(f"{client.name} login on {server.url}", r)
    client.refresh, client.access = r.json()["refresh_token"], r.json()["access_token"]


def rounds(fleet: Fleet, clients: list[Client], phase: str) -> None:
    """Each client refreshes on one replica and shows its access token to the
    next, moving one replica on every round."""
    live = fleet.live()
    for n in range(ROUNDS):
        for i, client in enumerate(clients):
            here, there = live[(i + n) % len(live)], live[(i + n + 1) % len(live)]
            r = httpx.post(here.url + "/auth/refresh", json={"refresh_token": client.refresh}, timeout=30)
            fleet.record(f"{phase}: {client.name} refresh on {here.url}", r)
            if r.status_code != 200:
                continue
            client.refresh, client.access = r.json()["refresh_token"], r.json()["access_token"]
            client.trail.append(here.url)
            me = httpx.get(there.url + "/auth/me", headers={"authorization": f"Bearer {client.access}"}, timeout=30)
            fleet.record(f"{phase}: {client.name} access token on {there.url}", me)


def logouts_cross(fleet: Fleet, name: str, logs_in: Server, logs_out: Server) -> None:
    """A logout on one release ends the session on the other (the refresh
    after it is refused there: a logout that works, not one we caused)."""
    client = Client(name)
    log_in(fleet, client, logs_in)
    r = httpx.post(logs_out.url + "/auth/logout", headers={"authorization": f"Bearer {client.access}"}, timeout=30)
    if r.status_code != 204:
        fleet.failures.append(f"{name}: logout on {logs_out.url}: {r.status_code} {r.text[:200]}")
    r = httpx.post(logs_in.url + "/auth/refresh", json={"refresh_token": client.refresh}, timeout=30)
    if r.status_code != 401:
        fleet.failures.append(f"{name}: refresh after logout on {logs_in.url}: {r.status_code} {r.text[:200]}")


def run_side_by_side(old_code: Path, tmp: Path, postgres_url: str, redis_url: str) -> Fleet:
    env = {
        "KEYTURN_MASTER_KEY": new_master_key(), "KEYTURN_DATABASE_URL": postgres_url,
        "KEYTURN_SESSION_STORE_URL": redis_url,
    }
    fleet = Fleet(env, old_code, tmp)
    try:
        fleet.old = [fleet.start(old_code), fleet.start(old_code)]
        clients = [Client(f"user{i}") for i in range(CLIENTS)]
        for i, client in enumerate(clients):
            log_in(fleet, client, fleet.old[i % 2])
        rounds(fleet, clients, "old replicas only")

        fleet.new = [fleet.start(None)]  # migrates the schema
        late = [Client(f"late{i}") for i in range(CLIENTS // 2)]
        for client in late:
            log_in(fleet, client, fleet.new[0])  # sessions the new release creates
        clients += late
        rounds(fleet, clients, "old and new")
        logouts_cross(fleet, "out-on-new", fleet.old[0], fleet.new[0])
        logouts_cross(fleet, "out-on-old", fleet.new[0], fleet.old[1])

        restarted = fleet.old.pop(0)
        stop_server(restarted)
        port = int(restarted.url.rsplit(":", 1)[1])
        fleet.old.insert(0, fleet.start(old_code, port=port))  # must start on the migrated schema
        rounds(fleet, clients, "old restarted after the migration")

        for server in fleet.old:
            stop_server(server)
        fleet.old = []
        fleet.new.append(fleet.start(None))
        rounds(fleet, clients, "new replicas only")
    finally:
        for server in fleet.live():
            stop_server(server)
    return fleet


def test_the_previous_release_runs_beside_this_one(tmp_path: Path) -> None:
    version, commit = previous_release()
    old_code = extract_release(commit, tmp_path / f"keyturn-{version}")
    redis = b.RedisServer(free_port(), tmp_path)
    try:
        redis.start()
    except Exception as exc:  # redis-server missing or failing to start
        backend_unavailable(f"redis-server: {type(exc).__name__}: {exc}")
    try:
        try:
            database = b.create_database(b.POSTGRES_URL)
        except Exception as exc:  # any failure to reach or use the server
            backend_unavailable(f"PostgreSQL at {b.POSTGRES_URL}: {type(exc).__name__}: {exc}")
            raise
        try:
            fleet = run_side_by_side(old_code, tmp_path, database, redis.url)
        finally:
            b.drop_database(b.POSTGRES_URL, database)
    finally:
        redis.stop()
    assert fleet.failures == [], fleet.failures
    assert fleet.statuses[401] == 0 and fleet.statuses[429] == 0
    assert fleet.statuses[200] > 0
