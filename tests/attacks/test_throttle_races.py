"""Throttles that hold under concurrency: a burst of guesses cannot outrun
the lockout, registration is throttled per address and hashes nothing for
a taken name, and a storm of registrations does not starve logins."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.attacks.conftest import assert_refused
from tests.conftest import PASSWORD, Api

WRONG = "wrong password, long enough"
HANG_GUARD = 30.0


def from_ip(ip: str) -> dict[str, Any]:
    return {"headers": {"x-forwarded-for": ip}}


def count_calls(api: Api, monkeypatch: pytest.MonkeyPatch, method: str) -> list[int]:
    """Count the password hasher's ``method`` calls (verify or hash)."""
    hasher = api.runtime.service.passwords
    real = getattr(hasher, method)
    calls: list[int] = []

    async def counted(*args: Any) -> Any:
        calls.append(1)
        return await real(*args)

    monkeypatch.setattr(hasher, method, counted)
    return calls


@pytest.mark.parametrize("address_limit", [False, True])
async def test_concurrent_guesses_cannot_outrun_the_lockout(
    make_target: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, address_limit: bool
) -> None:
    limit = 5
    # Either the account's or the address's limit is the one that binds.
    settings: dict[str, Any] = {"login_ip_max_failures": limit} if address_limit else {"login_max_failures": limit}
    # Generous store and pool timeouts: 60 racing logins queue for connections.
    async with make_target(store_timeout=10.0, pool_timeout=10.0, **settings) as api:
        assert (await api.register()).status_code == 201
        evaluated = count_calls(api, monkeypatch, "verify")
        passwords = [WRONG] * 59 + [PASSWORD]
        answers = await asyncio.wait_for(
            asyncio.gather(*(api.login("alice", pw, **from_ip("198.51.100.9")) for pw in passwords)), HANG_GUARD
        )
        statuses = [r.status_code for r in answers]
        assert len(evaluated) <= limit, f"{len(evaluated)} passwords evaluated past a limit of {limit}"
        assert statuses.count(401) + statuses.count(200) <= limit, statuses
        assert set(statuses) <= {200, 401, 429}, statuses
        # The right password came last: refused, unless the store let it
        # overtake the guesses (MariaDB grants row locks in no fixed order)
        # and it took one of the ``limit`` evaluations itself.
        if answers[-1].status_code != 200:
            assert_refused(answers[-1], 429, "rate_limited")
        assert statuses.count(429) >= len(passwords) - limit


async def test_registration_of_a_taken_name_is_throttled_and_hashes_nothing(
    make_target: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with make_target(login_ip_max_failures=20) as api:
        assert (await api.register("alice", PASSWORD, )).status_code == 201
        hashed = count_calls(api, monkeypatch, "hash")
        answers = [await api.client.post(
            "/auth/register", json={"username": "alice", "password": PASSWORD}, **from_ip("198.51.100.20"),
        ) for _ in range(30)]
        statuses = [r.status_code for r in answers]
        assert hashed == []  # a taken name is refused before any hashing
        assert 429 in statuses, statuses
        first = statuses.index(429)
        assert first <= 20 and set(statuses[first:]) == {429}, statuses
        assert answers[first].headers["retry-after"].isdigit()


async def test_a_registration_storm_does_not_starve_logins(
    make_target: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    async with make_target() as api:
        for name in ("bob", "carol", "dave"):
            assert (await api.register(name)).status_code == 201
        gate = threading.Event()
        hasher = api.runtime.service.passwords
        real = hasher._hash

        def held(password: str) -> str:  # registrations hash until the logins are done
            gate.wait(HANG_GUARD)
            return real(password)

        monkeypatch.setattr(hasher, "_hash", held)

        async def register(i: int) -> httpx.Response:
            return await api.client.post(
                "/auth/register", json={"username": f"storm{i}", "password": PASSWORD}, **from_ip(f"192.0.2.{i + 1}"),
            )

        try:
            storm = [asyncio.ensure_future(register(i)) for i in range(40)]
            logins = [api.login(name, PASSWORD, **from_ip("203.0.113.50")) for name in ("bob", "carol", "dave")]
            answers = await asyncio.wait_for(asyncio.gather(*logins), HANG_GUARD)
            assert [r.status_code for r in answers] == [200, 200, 200], [r.text for r in answers]
        finally:
            gate.set()
        registered = await asyncio.wait_for(asyncio.gather(*storm), HANG_GUARD)
        assert {r.status_code for r in registered} <= {201, 503}
        assert 201 in {r.status_code for r in registered}
