"""Network and user-agent binding (KEYTURN_IP_BINDING, …) and who the
client is behind trusted proxies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from tests.conftest import Api

PROXY = {"trusted_proxies": ["203.0.113.7/32", "10.0.0.0/8"]}


def xff(ip: str) -> dict[str, dict[str, str]]:
    return {"headers": {"x-forwarded-for": ip}}


async def events(api: Api, type_: str) -> list[dict[str, Any]]:
    found = await api.runtime.stores.events.list_events(limit=1000)
    return [orjson.loads(e.detail) | {"ip": e.ip} for e in found if e.type == type_]


async def test_enforce_refuses_another_network_without_consuming_the_token(make_api: Callable[..., Any]) -> None:
    async with make_api(ip_binding="enforce", **PROXY) as api:
        tokens = await api.user_and_login()
        r = await api.refresh(tokens["refresh_token"], **xff("198.51.100.9"))
        assert r.status_code == 401
        assert r.json()["code"] == "binding_mismatch"
        assert (await events(api, "binding_mismatch"))[0]["action"] == "refused"
        # Not consumed: the same token still works from its own network …
        r = await api.refresh(tokens["refresh_token"], **xff("203.0.113.99"))
        assert r.status_code == 200, r.text
        # … and the session stays usable.
        assert (await api.get("/auth/me", r.json()["access_token"])).status_code == 200
        assert (await api.refresh(r.json()["refresh_token"])).status_code == 200


async def test_enforce_also_holds_for_a_runtime_without_cached_facts(make_api: Callable[..., Any]) -> None:
    async with make_api(ip_binding="enforce", **PROXY) as api:
        tokens = await api.user_and_login()
        api.runtime.service.facts.clear()
        r = await api.refresh(tokens["refresh_token"], **xff("198.51.100.9"))
        assert r.json()["code"] == "binding_mismatch"
        assert (await api.refresh(tokens["refresh_token"])).status_code == 200


async def test_alert_lets_the_refresh_through_and_emits_an_event(make_api: Callable[..., Any]) -> None:
    async with make_api(ip_binding="alert", **PROXY) as api:
        tokens = await api.user_and_login()
        r = await api.refresh(tokens["refresh_token"], **xff("198.51.100.9"))
        assert r.status_code == 200
        [event] = await events(api, "binding_mismatch")
        assert event["action"] == "alert" and event["ip"] == "198.51.100.9" and event["login_ip"] == "203.0.113.7"


async def test_off_is_the_default_and_says_nothing(make_api: Callable[..., Any]) -> None:
    async with make_api(**PROXY) as api:
        tokens = await api.user_and_login()
        assert (await api.refresh(tokens["refresh_token"], **xff("198.51.100.9"))).status_code == 200
        assert await events(api, "binding_mismatch") == []


async def test_prefix_lengths_are_configurable(make_api: Callable[..., Any]) -> None:
    async with make_api(ip_binding="enforce", ip_binding_v4_prefix=32, **PROXY) as api:
        tokens = await api.user_and_login()
        r = await api.refresh(tokens["refresh_token"], **xff("203.0.113.99"))
        assert r.json()["code"] == "binding_mismatch"


async def test_ipv6_clients_may_move_inside_their_64(make_api: Callable[..., Any]) -> None:
    async with make_api(ip_binding="enforce", **PROXY) as api:
        await api.register()
        tokens = (await api.login(**xff("2001:db8:1:2::10"))).json()
        r = await api.refresh(tokens["refresh_token"], **xff("2001:db8:1:2:ffff::1"))
        assert r.status_code == 200
        r = await api.refresh(r.json()["refresh_token"], **xff("2001:db8:1:3::10"))
        assert r.json()["code"] == "binding_mismatch"


async def test_user_agent_binding(make_api: Callable[..., Any]) -> None:
    async with make_api(ip_binding="enforce", ua_binding=True) as api:
        await api.register()
        tokens = (await api.login(headers={"user-agent": "app/1"})).json()
        r = await api.refresh(tokens["refresh_token"], headers={"user-agent": "curl/8"})
        assert r.json()["code"] == "binding_mismatch"
        assert (await api.refresh(tokens["refresh_token"], headers={"user-agent": "app/1"})).status_code == 200


async def test_forwarded_for_is_ignored_from_untrusted_peers(make_api: Callable[..., Any]) -> None:
    async with make_api(ip_binding="enforce") as api:
        tokens = await api.user_and_login()
        # The peer is not a trusted proxy: its X-Forwarded-For means nothing.
        r = await api.refresh(tokens["refresh_token"], **xff("198.51.100.9"))
        assert r.status_code == 200


async def test_forwarded_for_is_walked_from_the_right(make_api: Callable[..., Any]) -> None:
    async with make_api(ip_binding="enforce", **PROXY) as api:
        await api.register()
        # Leftmost hop is whatever the client claimed; the first untrusted hop
        # from the right is the client.
        tokens = (await api.login(**xff("1.2.3.4, 198.51.100.9, 10.1.1.1"))).json()
        sessions = await api.get("/auth/sessions", tokens["access_token"])
        assert sessions.json()["sessions"][0]["ip"] == "198.51.100.9"
        r = await api.refresh(tokens["refresh_token"], **xff("203.0.113.50, 198.51.100.20"))
        assert r.status_code == 200  # same /24 as 198.51.100.9
