"""Stolen, replayed, raced and guessed refresh tokens; enumeration."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import Any

import pytest

from keyturn.service.resource_clients import new_client
from tests.attacks.conftest import assert_refused
from tests.conftest import PASSWORD, Api


async def live_refresh_tokens(api: Api, candidates: list[str]) -> list[str]:
    """Which of ``candidates`` introspection calls active (no side effects)."""
    client, secret = new_client(f"probe-{len(candidates)}-{id(candidates)}", api.clock.now())
    await api.runtime.stores.clients.add_client(client)
    auth = {"authorization": "Basic " + base64.b64encode(f"{client.id}:{secret}".encode()).decode()}
    live = []
    for token in candidates:
        r = await api.client.post("/oauth/introspect", data={"token": token}, headers=auth)
        if r.json()["active"]:
            live.append(token)
    return live


async def test_replay_after_logout(target: Api) -> None:
    tokens = await target.user_and_login()
    assert (await target.post("/auth/logout", tokens["access_token"])).status_code == 204
    assert_refused(await target.get("/auth/me", tokens["access_token"]), 401, "token_revoked")
    assert_refused(await target.refresh(tokens["refresh_token"]), 401, "session_revoked")
    assert await live_refresh_tokens(target, [tokens["refresh_token"]]) == []


@pytest.mark.parametrize("first", ["owner", "thief"])
async def test_replay_after_rotation(make_target: Callable[..., Any], first: str) -> None:
    async with make_target(reuse_interval=10) as api:
        rt1 = (await api.user_and_login())["refresh_token"]
        # Whoever rotates first, the other one's later use of RT1 is reuse.
        who = {"owner": {"user-agent": "owner/1"}, "thief": {"user-agent": "thief/1", "x-forwarded-for": "198.51.100.66"}}
        second = "thief" if first == "owner" else "owner"
        r = await api.refresh(rt1, headers=who[first])
        assert r.status_code == 200
        rt2 = r.json()
        api.clock.advance(11)  # outside the grace window
        assert_refused(await api.refresh(rt1, headers=who[second]), 401, "refresh_token_reused")
        assert_refused(await api.refresh(rt2["refresh_token"], headers=who[first]), 401, "session_revoked")
        assert_refused(await api.get("/auth/me", rt2["access_token"]), 401, "token_revoked")
        assert await live_refresh_tokens(api, [rt1, rt2["refresh_token"]]) == []


async def test_replay_from_another_network_inside_the_grace_window_is_reuse(make_target: Callable[..., Any]) -> None:
    async with make_target(reuse_interval=10, ip_binding="alert") as api:
        rt1 = (await api.user_and_login())["refresh_token"]
        assert (await api.refresh(rt1)).status_code == 200
        r = await api.refresh(rt1, headers={"x-forwarded-for": "198.51.100.66"})
        assert_refused(r, 401, "refresh_token_reused")


async def test_stale_lineage(target: Api) -> None:
    rt1 = (await target.user_and_login())["refresh_token"]
    rt2 = (await target.refresh(rt1)).json()["refresh_token"]
    rt3 = (await target.refresh(rt2)).json()
    # RT1 is two generations old: reuse, even inside the grace window.
    assert_refused(await target.refresh(rt1), 401, "refresh_token_reused")
    assert_refused(await target.refresh(rt3["refresh_token"]), 401, "session_revoked")
    assert_refused(await target.get("/auth/me", rt3["access_token"]), 401, "token_revoked")
    assert await live_refresh_tokens(target, [rt1, rt2, rt3["refresh_token"]]) == []


@pytest.mark.parametrize("round_", range(50))
async def test_twenty_way_race(target: Api, round_: int) -> None:
    rt0 = (await target.user_and_login(f"racer{round_}"))["refresh_token"]
    answers = await asyncio.gather(*(target.refresh(rt0) for _ in range(20)))
    assert [a.status_code for a in answers] == [200] * 20, [a.text for a in answers if a.status_code != 200]
    successors = {a.json()["refresh_token"] for a in answers}
    assert len(successors) == 1  # one rotation; the rest converged on it
    assert await live_refresh_tokens(target, [rt0, *successors]) == list(successors)
    (rt1,) = successors
    assert (await target.refresh(rt1)).status_code == 200


async def test_a_burst_of_guessed_refresh_tokens(make_target: Callable[..., Any]) -> None:
    async with make_target() as api:
        tokens = await api.user_and_login()
        sid = tokens["session_id"]
        attacker = {"x-forwarded-for": "198.51.100.66"}
        answers = []
        for i in range(30):
            guess = f"krt_{sid}_{format(i, '048d')}"
            answers.append(await api.refresh(guess, headers=attacker))
        codes = [(a.status_code, a.json()["code"]) for a in answers]
        assert codes == [(401, "refresh_token_invalid")] * 20 + [(429, "rate_limited")] * 10
        assert all(int(a.headers["retry-after"]) >= 1 for a in answers[20:])
        # The victim's session is unharmed.
        r = await api.refresh(tokens["refresh_token"])
        assert r.status_code == 200
        assert (await api.get("/auth/me", r.json()["access_token"])).status_code == 200


async def test_no_username_enumeration(target: Api) -> None:
    await target.register("alice")
    await target.register("mallory")
    await target.runtime.service.disable_user("mallory")
    answers = {
        "unknown user": await target.login("nobody-here", PASSWORD),
        "wrong password": await target.login("alice", PASSWORD + "!"),
        "disabled user": await target.login("mallory", PASSWORD),
    }
    bodies = {name: (r.status_code, r.content, r.headers.get("www-authenticate")) for name, r in answers.items()}
    assert len(set(bodies.values())) == 1, bodies
    assert_refused(answers["unknown user"], 401, "invalid_credentials")


async def test_no_enumeration_through_throttling(make_target: Callable[..., Any]) -> None:
    async with make_target(login_max_failures=3) as api:
        await api.register("alice")
        for name in ("alice", "nobody-here"):
            for _ in range(3):
                await api.login(name, "wrong password, long enough")
        known, unknown = await api.login("alice", PASSWORD), await api.login("nobody-here", PASSWORD)
        assert (known.status_code, known.content) == (unknown.status_code, unknown.content)
        assert known.headers["retry-after"] == unknown.headers["retry-after"]


@pytest.mark.parametrize("endpoint", ["/auth/refresh", "/oauth/token"])
@pytest.mark.parametrize("cached", [True, False], ids=["facts_cached", "cold_replica"])
async def test_a_guesser_does_not_stall_a_neighbour_behind_the_same_address(
    make_target: Callable[..., Any], endpoint: str, cached: bool,
) -> None:
    """Carrier NAT / office proxy: one address, a guesser and an honest
    neighbour. The guesser is slowed (429) and stays slowed; a refresh token
    whose MAC verifies was issued by keyturn and is served (200) from that
    same address, on a replica that knows the session and on one that does not."""
    async with make_target() as api:
        tokens = await api.user_and_login()
        shared = {"x-forwarded-for": "198.51.100.77"}

        async def refresh(token: str) -> Any:
            if endpoint == "/oauth/token":
                return await api.client.post(endpoint, data={"grant_type": "refresh_token", "refresh_token": token},
                                             headers=shared)
            return await api.refresh(token, headers=shared)

        for i in range(25):
            await refresh(f"krt_{tokens['session_id']}_{format(i, '048d')}")
        guess = await refresh(f"krt_{tokens['session_id']}_{format(99, '048d')}")
        assert (guess.status_code, guess.json()["code"]) == (429, "rate_limited")
        if not cached:
            api.runtime.service.facts.clear()  # as on a replica that never saw this session
        genuine = await refresh(tokens["refresh_token"])
        assert genuine.status_code == 200, genuine.text
        again = await refresh(f"krt_{tokens['session_id']}_{format(98, '048d')}")
        assert (again.status_code, again.json()["code"]) == (429, "rate_limited")
        assert int(again.headers["retry-after"]) >= 1
