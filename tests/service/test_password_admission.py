"""Logins never starve refreshes: hashing runs in a bounded pool of its own,
a full queue answers a login at once with 503 ``overloaded`` and
``Retry-After``, and refreshes keep answering while logins are queued."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import Api

HANG_GUARD = 30.0
STORM = 100


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """Holds every password check in the hashing pool until set."""
    event = threading.Event()
    yield event
    event.set()


def hold_hashes(api: Api, gate: threading.Event, monkeypatch: pytest.MonkeyPatch, method: str) -> None:
    hasher = api.runtime.service.passwords
    real = getattr(hasher, method)

    def held(*args: Any) -> Any:
        gate.wait(HANG_GUARD)
        return real(*args)

    monkeypatch.setattr(hasher, method, held)


async def settled(tasks: list[asyncio.Task[Any]], at_least: int) -> list[asyncio.Task[Any]]:
    """The tasks done once ``at_least`` of them are (bounded: a hang fails)."""
    async with asyncio.timeout(HANG_GUARD):
        while sum(t.done() for t in tasks) < at_least:
            await asyncio.sleep(0.01)
    return [t for t in tasks if t.done()]


async def test_a_login_storm_is_admitted_up_to_the_queue_and_refreshes_keep_answering(
    make_api: Callable[..., Any], gate: threading.Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A generous store timeout: this storm is about hashing, not the store.
    async with make_api(trusted_proxies=["203.0.113.7/32"], store_timeout=10.0) as api:
        tokens = await api.user_and_login("alice")
        hold_hashes(api, gate, monkeypatch, "_verify")
        storm = [
            asyncio.ensure_future(api.login(f"ghost{i}", "a wrong password", headers={"x-forwarded-for": f"198.51.100.{i}"}))
            for i in range(STORM)
        ]
        queue = api.runtime.service.passwords.queue
        refused = await settled(storm, STORM - queue)  # the overflow is answered at once
        for _ in range(5):  # refreshes answer while every admitted login is still queued
            r = await asyncio.wait_for(api.refresh(tokens["refresh_token"]), HANG_GUARD)
            assert r.status_code == 200, r.text
            tokens.update(r.json())
        assert sum(t.done() for t in storm) == STORM - queue
        for t in refused:
            r = t.result()
            assert r.status_code == 503, r.text
            assert r.json()["code"] == "overloaded"
            assert int(r.headers["retry-after"]) >= 1
        gate.set()
        answers = await asyncio.wait_for(asyncio.gather(*storm), HANG_GUARD)
        assert sorted(r.status_code for r in answers) == [401] * queue + [503] * (STORM - queue)


@pytest.mark.parametrize("fault", ["overloaded", "store"])
async def test_our_own_failures_are_not_counted_as_guesses(
    make_api: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    """A login refused because we were overloaded (503) or the store failed
    (503) was never a guess: more of them than the lockout limit must leave
    the account and the address as they were."""
    from keyturn.errors import Overloaded, StoreUnavailable

    async with make_api() as api:
        assert (await api.register("alice")).status_code == 201
        service = api.runtime.service
        if fault == "overloaded":
            async def failing(*args: Any) -> bool:
                raise Overloaded(1.0)

            monkeypatch.setattr(service.passwords, "verify", failing)
        else:
            async def failing(*args: Any, **kw: Any) -> Any:
                raise StoreUnavailable()

            monkeypatch.setattr(service.users, "user_by_name", failing)
        limit = api.runtime.settings.login_ip_max_failures + 1
        for _ in range(limit):
            assert (await api.login("alice")).status_code == 503
        monkeypatch.undo()
        answer = await api.login("alice")
        assert answer.status_code == 200, answer.text


async def test_a_login_refused_for_a_full_queue_touches_no_store(
    make_api: Callable[..., Any], gate: threading.Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a login storm the refusals are most of the traffic: each must
    cost the event loop next to nothing — no throttle reservation, no user
    lookup — so refreshes keep the loop."""
    async with make_api(store_timeout=10.0) as api:
        assert (await api.register("alice")).status_code == 201
        hold_hashes(api, gate, monkeypatch, "_verify")
        service = api.runtime.service
        queue = service.passwords.queue
        admitted = [
            asyncio.ensure_future(api.login(f"ghost{i}", "a wrong password")) for i in range(queue)
        ]  # unknown users hash too (the dummy hash), each on its own account counter
        async with asyncio.timeout(HANG_GUARD):
            while service.passwords.pending < queue:
                await asyncio.sleep(0.01)
        touched: list[str] = []
        real_reserve, real_lookup = service.throttle.reserve_login, service.users.user_by_name

        async def reserve(*args: Any, **kw: Any) -> Any:
            touched.append("reserve")
            return await real_reserve(*args, **kw)

        async def lookup(*args: Any, **kw: Any) -> Any:
            touched.append("lookup")
            return await real_lookup(*args, **kw)

        monkeypatch.setattr(service.throttle, "reserve_login", reserve)
        monkeypatch.setattr(service.users, "user_by_name", lookup)
        refused = await api.login("alice")
        assert refused.status_code == 503 and refused.json()["code"] == "overloaded"
        assert touched == []
        gate.set()
        await asyncio.wait_for(asyncio.gather(*admitted), HANG_GUARD)
