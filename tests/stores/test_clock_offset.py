"""A replica whose clock is off never logs anyone out and never turns a retry
into theft (docs/operations.md, "Clocks"): it measures its offset to each
store, sends deadlines and judges grace windows in the store's time, and
beyond ``KEYTURN_MAX_CLOCK_OFFSET`` it is not ready and answers refreshes
503, never 401.

The replica's wall clock is skewed where the engines read it (their
``time`` module, as tests/stores/test_stall.py does), and its service clock
with it; the stores keep the true time."""

from __future__ import annotations

import time as _time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import keyturn.stores.redis.sessions
import keyturn.stores.sql.sessions
from tests.conftest import Api
from tests.stores.test_faults import bounded, login

TIMEOUT = 1.0  # settings.store_timeout here
NETWORKED = ["postgresql", "mariadb", "redis"]  # SQLite and memory share this host's clock


class Skewed:
    """The ``time`` module of a host whose clock is ``by`` seconds off."""

    def __init__(self, by: float) -> None:
        self.by = by

    def time(self) -> float:
        return _time.time() + self.by


def skew(monkeypatch: pytest.MonkeyPatch, by: float) -> None:
    for module in (keyturn.stores.sql.sessions, keyturn.stores.redis.sessions):
        monkeypatch.setattr(module, "time", Skewed(by))


@pytest.fixture
def replica(
    request: pytest.FixtureRequest, make_api: Callable[..., Any], clean_sql_url: Callable[[str], str]
) -> Callable[..., Any]:
    """``replica(engine, **settings)``: the app on that engine's store; every
    replica of one test shares the store and the master key."""
    import contextlib

    from keyturn.service.masterkey import new_master_key

    shared: dict[str, Any] = {"master_key": new_master_key()}

    @contextlib.asynccontextmanager
    async def make(engine: str, **settings: Any) -> AsyncIterator[Api]:
        if len(shared) == 1:
            if engine == "redis":
                shared["session_store_url"] = request.getfixturevalue("redis_server").url
            else:
                shared["database_url"] = clean_sql_url(engine)
        async with make_api(store_timeout=TIMEOUT, **shared, **settings) as api:
            yield api

    return make


@pytest.mark.parametrize("engine", NETWORKED)
async def test_a_replica_behind_the_store_sends_deadlines_in_the_stores_time(
    replica: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    """5 s behind (more than the store timeout), within the limit: refreshes
    work (before: every refresh 401 refresh_token_invalid)."""
    skew(monkeypatch, -5)
    async with replica(engine, max_clock_offset=10) as api:
        tokens = await login(api)
        for _ in range(3):
            api.clock.advance(60)
            r = await bounded(api.refresh(tokens["refresh_token"]))
            assert r.status_code == 200, r.text
            tokens.update(r.json())
        assert (await bounded(api.client.get("/readyz"))).status_code == 200


@pytest.mark.parametrize("engine", NETWORKED)
async def test_a_replica_too_far_behind_is_not_ready_and_answers_503(
    replica: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    skew(monkeypatch, -5)  # the limit is 2 s by default
    async with replica(engine) as api:
        tokens = await login(api)
        api.clock.advance(60)
        r = await bounded(api.refresh(tokens["refresh_token"]))
        assert r.status_code == 503, r.text  # never 401: the user stays logged in
        assert r.json()["code"] == "store_unavailable"
        r = await bounded(api.client.get("/readyz"))
        assert r.status_code == 503, r.text
        assert "clock" in " ".join(r.json()["detail"]), r.text
        monkeypatch.undo()  # NTP fixes the host's clock; the next measurement sees it
        await api.runtime.clocks.measure()
        r = await bounded(api.refresh(tokens["refresh_token"]))
        assert r.status_code == 200, r.text
        assert (await bounded(api.client.get("/readyz"))).status_code == 200


@pytest.mark.parametrize("limit", [None, 30.0])
@pytest.mark.parametrize("engine", NETWORKED)
async def test_a_replica_ahead_never_turns_a_retry_into_theft(
    replica: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, engine: str, limit: float | None
) -> None:
    """The client rotates, then a second program of it (another user agent
    on its network: only the grace window can answer it) retries at once on
    a replica whose clock is 15 s ahead. Beyond the limit: 503; within it,
    the window is judged in the store's time: the same successor. Before:
    401 refresh_token_reused and the session revoked."""
    settings = {} if limit is None else {"max_clock_offset": limit}
    async with replica(engine) as a:
        tokens = await login(a)
        a.clock.advance(60)
        r = await bounded(a.refresh(tokens["refresh_token"]))
        assert r.status_code == 200, r.text
        successor = r.json()["refresh_token"]
    skew(monkeypatch, 15)  # the other replica's clock is 15 s ahead ...
    a.clock.advance(15)  # ... its service clock with it
    async with replica(engine, **settings) as b:
        r = await bounded(b.refresh(tokens["refresh_token"], headers={"user-agent": "second-tab/1"}))
        if limit is None:
            assert r.status_code == 503, r.text
            assert (await bounded(b.client.get("/readyz"))).status_code == 503
        else:
            assert r.status_code == 200, r.text
            assert r.json()["refresh_token"] == successor
        session = await b.runtime.stores.sessions.get_session(tokens["session_id"])
        assert session is not None and session.revoked_at is None


@pytest.mark.parametrize("stores", ["memory", "sqlite", *NETWORKED, "redis-cluster"], indirect=True)
async def test_every_engine_measures_its_clock(stores: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """On this host every store shares our clock: offset 0. With our clock
    read 5 s behind, each engine with a clock of its own measures +5 s; the
    in-process engine has none but ours."""
    from keyturn.stores.memory import MemoryStore

    engine = stores.session_engine or stores.database
    assert (await engine.measure_clock()).offset == 0.0
    skew(monkeypatch, -5)
    reading = await engine.measure_clock()
    expected = 0.0 if isinstance(engine, MemoryStore) else 5.0
    assert abs(reading.offset - expected) < 0.5, reading


@pytest.mark.parametrize("stores", ["sqlite", *NETWORKED], indirect=True)
async def test_doctor_reports_the_offset(stores: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from keyturn.cli.doctor.clock import check_clock
    from keyturn.config import Settings

    import re

    def offset(detail: str) -> float:
        found = re.search(r"clock is ([+-][0-9.]+) s", detail)
        assert found is not None, detail
        return float(found.group(1))

    engine = stores.session_engine or stores.database
    check = await check_clock("session store", engine, Settings(), _time.time())
    assert check.status == "ok" and offset(check.detail) == 0.0, check
    skew(monkeypatch, -5)
    check = await check_clock("session store", engine, Settings(), _time.time())
    assert check.status == "fail" and "KEYTURN_MAX_CLOCK_OFFSET" in check.detail, check
    assert abs(offset(check.detail) - 5) < 0.5, check
