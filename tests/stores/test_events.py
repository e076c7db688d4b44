"""The EventStore contract on every database engine."""

from __future__ import annotations

from typing import Any

import pytest

from keyturn.stores.protocols import SecurityEvent

T0 = 1_795_000_000.0


@pytest.fixture
def events(database_stores: Any) -> Any:
    return database_stores.events


async def test_events_are_kept_and_listed_oldest_first(events: Any) -> None:
    first = SecurityEvent("login", T0, user_id="u1", session_id="s1", ip="203.0.113.7", user_agent="ua",
                          detail='{"a": 1}')
    await events.add_event(first)
    await events.add_event(SecurityEvent("login_failed", T0 + 1, user_id="u2"))
    await events.add_event(SecurityEvent("logout", T0 + 2, user_id="u1"))
    listed = list(await events.list_events())
    assert [e.type for e in listed] == ["login", "login_failed", "logout"]
    assert listed[0] == first


async def test_events_by_user_and_limit(events: Any) -> None:
    for i in range(5):
        await events.add_event(SecurityEvent("login", T0 + i, user_id="u1" if i % 2 else "u2"))
    assert [e.at for e in await events.list_events(user_id="u1")] == [T0 + 1, T0 + 3]
    assert [e.at for e in await events.list_events(limit=2)] == [T0 + 3, T0 + 4]
