"""A user agent in UTF-8 (browsers and apps send non-ASCII names) comes back
from ``/auth/sessions`` as the same text on every SQL engine, MariaDB
included: HTTP header bytes are decoded as UTF-8 where they are UTF-8, and
the store keeps the text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from keyturn.service.masterkey import new_master_key
from tests.conftest import PASSWORD, backend_unavailable, start_server, stop_server
from tests.stores import backends as b

pytestmark = pytest.mark.slow
AGENT = "Édge/1.0 (Zürich; 日本語) ✓"


@pytest.fixture(params=["sqlite", "mariadb", "mariadb-latin1"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    env = {"KEYTURN_MASTER_KEY": new_master_key()}
    fresh = None
    if request.param.startswith("mariadb"):
        try:
            fresh = latin1_database() if request.param == "mariadb-latin1" else b.create_database(b.MYSQL_URL)
        except Exception as exc:  # noqa: BLE001 - any failure to reach the server
            backend_unavailable(f"MariaDB at {b.MYSQL_URL}: {type(exc).__name__}: {exc}")
        env["KEYTURN_DATABASE_URL"] = fresh
    server = start_server(tmp_path, env)
    try:
        yield server.url
    finally:
        stop_server(server)
        if fresh is not None:
            b.drop_database(b.MYSQL_URL, fresh)


def latin1_database() -> str:
    """An empty database whose default character set is latin1 (the default
    of older servers); keyturn serve migrates it on start."""
    import secrets

    name = f"kt_{secrets.token_hex(6)}"
    b.run_async(lambda: b._admin(b.MYSQL_URL, f"CREATE DATABASE {name} CHARACTER SET latin1"))
    return b.with_database(b.MYSQL_URL, name)


def test_a_utf8_user_agent_comes_back_as_the_same_text(url: str) -> None:
    assert httpx.post(url + "/auth/register", json={"username": "alice", "password": PASSWORD}).status_code == 201
    raw = {"user-agent": AGENT.encode("utf-8")}
    r = httpx.post(url + "/auth/login", json={"username": "alice", "password": PASSWORD}, headers=raw)
    assert r.status_code == 200, r.text
    tokens = r.json()
    r = httpx.post(url + "/auth/refresh", json={"refresh_token": tokens["refresh_token"]}, headers=raw)
    assert r.status_code == 200, r.text
    listed = httpx.get(url + "/auth/sessions", headers={"authorization": f"Bearer {r.json()['access_token']}"})
    (session,) = listed.json()["sessions"]
    assert session["user_agent"] == AGENT


def test_a_latin1_user_agent_is_kept_as_it_was_sent(url: str) -> None:
    """Bytes that are not UTF-8 are read as ISO-8859-1 (RFC 9110 §5.5), as before."""
    assert httpx.post(url + "/auth/register", json={"username": "bob", "password": PASSWORD}).status_code == 201
    r = httpx.post(url + "/auth/login", json={"username": "bob", "password": PASSWORD},
                   headers={"user-agent": "Caf\xe9/1".encode("latin-1")})
    listed = httpx.get(url + "/auth/sessions", headers={"authorization": f"Bearer {r.json()['access_token']}"})
    assert listed.json()["sessions"][0]["user_agent"] == "Café/1"


def test_a_fresh_mariadb_database_migrates_without_a_driver_warning(caplog: pytest.LogCaptureFixture) -> None:
    """MariaDB's note that a PRIMARY KEY name is ignored is not an operator's
    concern: asyncmy used to log it as a warning on a fresh database."""
    import logging

    try:
        url = latin1_database()
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server
        backend_unavailable(f"MariaDB at {b.MYSQL_URL}: {type(exc).__name__}: {exc}")

    try:
        with caplog.at_level(logging.INFO, logger="asyncmy"):
            b.migrate(url)
    finally:
        b.drop_database(b.MYSQL_URL, url)
    assert [r.getMessage() for r in caplog.records if r.name.startswith("asyncmy")] == []
