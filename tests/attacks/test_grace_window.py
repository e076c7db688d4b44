"""The grace window is for the same client retrying: a replay of the
just-rotated token from another network (or, with user-agent binding, another
user agent) inside the window is reuse, in every binding mode."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.attacks.conftest import assert_refused
from tests.conftest import Api

OWNER = {"x-forwarded-for": "198.51.100.10", "user-agent": "owner/1"}
OWNER_RETRY = {"x-forwarded-for": "198.51.100.77", "user-agent": "owner/1"}  # same /24
THIEF = {"x-forwarded-for": "192.0.2.66", "user-agent": "owner/1"}  # another network, copied UA
THIEF_SAME_NET = {"x-forwarded-for": "198.51.100.66", "user-agent": "thief/1"}


async def login(api: Api, headers: dict[str, str]) -> dict[str, Any]:
    assert (await api.register()).status_code == 201
    r = await api.login(headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def reuse_events(api: Api) -> list[dict[str, Any]]:
    found = await api.runtime.stores.events.list_events()
    return [json.loads(e.detail) | {"ip": e.ip} for e in found if e.type == "refresh_token_reused"]


async def assert_theft_stopped(api: Api, successor: str, presenter: dict[str, str], holder: dict[str, str]) -> None:
    assert_refused(await api.refresh(successor, headers=holder), 401, "session_revoked")
    events = await reuse_events(api)
    assert len(events) == 1, events
    assert events[0]["presenter"]["ip"] == presenter["x-forwarded-for"]
    assert events[0]["holder"]["ip"] == holder["x-forwarded-for"]


@pytest.mark.parametrize("binding", ["off", "alert"])
async def test_the_rotated_token_from_another_network_inside_the_window_is_reuse(
    make_target: Callable[..., Any], binding: str
) -> None:
    async with make_target(reuse_interval=10, ip_binding=binding) as api:
        rt1 = (await login(api, OWNER))["refresh_token"]
        r = await api.refresh(rt1, headers=OWNER)
        assert r.status_code == 200, r.text
        rt2 = r.json()["refresh_token"]
        api.clock.advance(1)
        assert_refused(await api.refresh(rt1, headers=THIEF), 401, "refresh_token_reused")
        await assert_theft_stopped(api, rt2, THIEF, OWNER)


async def test_alert_mode_a_thief_who_rotated_first_does_not_hand_the_owner_his_successor(
    make_target: Callable[..., Any],
) -> None:
    async with make_target(reuse_interval=10, ip_binding="alert") as api:
        rt1 = (await login(api, OWNER))["refresh_token"]
        r = await api.refresh(rt1, headers=THIEF)  # allowed in alert mode, with an event
        assert r.status_code == 200, r.text
        thief_rt2 = r.json()["refresh_token"]
        assert_refused(await api.refresh(rt1, headers=OWNER), 401, "refresh_token_reused")
        await assert_theft_stopped(api, thief_rt2, OWNER, THIEF)


@pytest.mark.parametrize("binding", ["off", "alert"])
async def test_user_agent_binding_the_window_needs_the_same_user_agent(
    make_target: Callable[..., Any], binding: str
) -> None:
    async with make_target(reuse_interval=10, ip_binding=binding, ua_binding=True) as api:
        rt1 = (await login(api, OWNER))["refresh_token"]
        r = await api.refresh(rt1, headers=OWNER)
        assert r.status_code == 200, r.text
        assert_refused(await api.refresh(rt1, headers=THIEF_SAME_NET), 401, "refresh_token_reused")
        await assert_theft_stopped(api, r.json()["refresh_token"], THIEF_SAME_NET, OWNER)


@pytest.mark.parametrize("binding", ["off", "alert", "enforce"])
@pytest.mark.parametrize("ua_binding", [False, True])
async def test_the_same_client_retrying_inside_the_window_gets_the_same_successor(
    make_target: Callable[..., Any], binding: str, ua_binding: bool
) -> None:
    async with make_target(reuse_interval=10, ip_binding=binding, ua_binding=ua_binding) as api:
        rt1 = (await login(api, OWNER))["refresh_token"]
        first = await api.refresh(rt1, headers=OWNER)
        assert first.status_code == 200, first.text
        api.clock.advance(5)
        retry = await api.refresh(rt1, headers=OWNER_RETRY)  # another address in the same /24
        assert retry.status_code == 200, retry.text
        assert retry.json()["refresh_token"] == first.json()["refresh_token"]
        assert await reuse_events(api) == []


async def test_grace_same_network_off_lets_a_client_hop_networks(make_target: Callable[..., Any]) -> None:
    async with make_target(reuse_interval=10, grace_same_network=False) as api:
        rt1 = (await login(api, OWNER))["refresh_token"]
        first = await api.refresh(rt1, headers=OWNER)
        assert first.status_code == 200, first.text
        retry = await api.refresh(rt1, headers=THIEF)
        assert retry.status_code == 200, retry.text
        assert retry.json()["refresh_token"] == first.json()["refresh_token"]
