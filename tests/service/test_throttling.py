"""Login and refresh throttling (429 + Retry-After) and the password rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from keyturn.core.throttle import window_start
from tests.conftest import PASSWORD, Api

PROXY = {"trusted_proxies": ["203.0.113.7/32"]}
WRONG = "wrong password, long enough"


def xff(ip: str) -> dict[str, Any]:
    return {"headers": {"x-forwarded-for": ip}}


async def fail_n(api: Api, n: int, *, username: str = "alice", ip: str | None = None) -> None:
    for i in range(n):
        kw = xff(ip or f"198.51.100.{i % 250 + 1}")
        r = await api.login(username, WRONG, **kw)
        assert r.status_code == 401, (i, r.text)


async def test_account_locks_after_max_failures_and_the_right_password_gets_the_same_answer(
    make_api: Callable[..., Any],
) -> None:
    async with make_api(login_max_failures=3, **PROXY) as api:
        await api.register()
        await fail_n(api, 3)
        right = await api.login("alice", PASSWORD, **xff("192.0.2.1"))
        wrong = await api.login("alice", WRONG, **xff("192.0.2.1"))
        assert right.status_code == wrong.status_code == 429
        assert right.json() == wrong.json()
        assert right.json()["code"] == "rate_limited"
        assert right.headers["retry-after"] == wrong.headers["retry-after"] == "1"
        types = [e.type for e in await api.runtime.stores.events.list_events(limit=100)]
        assert types.count("lockout") == 1
        api.clock.advance(1)
        assert (await api.login("alice", PASSWORD)).status_code == 200


async def test_the_delay_grows_with_each_failure(make_api: Callable[..., Any]) -> None:
    async with make_api(login_max_failures=3, **PROXY) as api:
        await api.register()
        await fail_n(api, 3)
        waits = []
        for _ in range(4):
            r = await api.login("alice", WRONG)
            waits.append(int(r.headers["retry-after"]))
            api.clock.advance(waits[-1])
            assert (await api.login("alice", WRONG)).status_code == 401
        assert waits == [1, 2, 4, 8]


async def test_spraying_one_account_from_many_addresses_is_slowed(make_api: Callable[..., Any]) -> None:
    async with make_api(login_max_failures=5, **PROXY) as api:
        await api.register()
        await fail_n(api, 5)  # five different addresses
        r = await api.login("alice", WRONG, **xff("192.0.2.200"))
        assert r.status_code == 429


async def test_unknown_accounts_are_throttled_like_real_ones(make_api: Callable[..., Any]) -> None:
    async with make_api(login_max_failures=3, **PROXY) as api:
        await fail_n(api, 3, username="nobody")
        assert (await api.login("nobody", WRONG)).status_code == 429


async def test_soft_lock_attempts_while_locked_do_not_extend_it(make_api: Callable[..., Any]) -> None:
    async with make_api(login_max_failures=3, login_max_delay=60, **PROXY) as api:
        await api.register()
        await fail_n(api, 3)
        # Grow the delay to its cap …
        for _ in range(8):
            api.clock.advance(60)
            assert (await api.login("alice", WRONG)).status_code == 401
        # … then hammer while locked: nothing is counted.
        for i in range(30):
            api.clock.advance(1)
            assert (await api.login("alice", WRONG, **xff(f"192.0.2.{i + 1}"))).status_code == 429
        api.clock.advance(30)  # 60 s after the last counted failure
        assert (await api.login("alice", PASSWORD)).status_code == 200


async def test_success_resets_the_streak(make_api: Callable[..., Any]) -> None:
    async with make_api(login_max_failures=3, **PROXY) as api:
        await api.register()
        await fail_n(api, 2)
        assert (await api.login()).status_code == 200
        await fail_n(api, 2)
        assert (await api.login()).status_code == 200


async def test_per_address_limit_per_minute(make_api: Callable[..., Any]) -> None:
    async with make_api(login_ip_max_failures=5, **PROXY) as api:
        await api.register()
        for i in range(5):
            assert (await api.login(f"user{i}", WRONG, **xff("198.51.100.1"))).status_code == 401
        api.clock.set(window_start(api.clock.now()) + 20)
        r = await api.login("alice", PASSWORD, **xff("198.51.100.1"))
        assert r.status_code == 429 and r.headers["retry-after"] == "40"
        # Another address is not affected, and the next minute starts afresh.
        assert (await api.login("alice", PASSWORD, **xff("198.51.100.2"))).status_code == 200
        api.clock.advance(40)
        assert (await api.login("alice", PASSWORD, **xff("198.51.100.1"))).status_code == 200


async def test_defaults_do_not_trigger_below_the_contract(api: Api) -> None:
    await api.register()
    for _ in range(9):
        assert (await api.login("alice", WRONG)).status_code == 401
    assert (await api.login()).status_code == 200


async def test_garbage_refresh_tokens_are_rate_limited_per_address(make_api: Callable[..., Any]) -> None:
    async with make_api(refresh_ip_max_invalid=5, **PROXY) as api:
        victim = await api.user_and_login()
        sid = victim["session_id"]
        guesses = [f"krt_{sid}_{'A' * 47}{c}" for c in "AQgw"] + ["garbage"]
        for g in guesses:
            r = await api.refresh(g, **xff("198.51.100.66"))
            assert r.status_code == 401 and r.json()["code"] == "refresh_token_invalid"
        r = await api.refresh(guesses[0], **xff("198.51.100.66"))
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        # The victim, elsewhere, is unharmed: its token still rotates.
        r = await api.refresh(victim["refresh_token"], **xff("192.0.2.10"))
        assert r.status_code == 200, r.text
        # And so does a genuine token from the guesser's own address (a
        # neighbour behind the same NAT): its MAC proves it was issued.
        r = await api.refresh(r.json()["refresh_token"], **xff("198.51.100.66"))
        assert r.status_code == 200, r.text


async def test_the_refresh_limit_is_shared_through_the_store(make_api: Callable[..., Any]) -> None:
    async with make_api(refresh_ip_max_invalid=3, **PROXY) as api:
        for _ in range(3):
            await api.refresh("garbage", **xff("198.51.100.66"))
        counters = await api.runtime.stores.security.counters(
            [f"refresh:198.51.100.66:{int(window_start(api.clock.now()))}"], now=api.clock.now()
        )
        assert [c.count for c in counters.values()] == [3]


async def test_a_password_over_1024_bytes_is_refused_before_hashing(api: Api) -> None:
    await api.register()
    calls: list[str] = []
    real_verify = api.runtime.service.passwords.verify

    async def counting(h: str | None, p: str) -> bool:
        calls.append(p)
        return await real_verify(h, p)

    api.runtime.service.passwords.verify = counting  # type: ignore[method-assign]
    r = await api.login("alice", "é" * 513)  # 1026 bytes
    assert r.status_code == 400 and calls == []
    r = await api.register("bob", "x" * 1025)
    assert r.status_code == 400


async def test_unicode_passwords_are_never_truncated(api: Api) -> None:
    password = "pässwörd 🔑 " * 30  # > 72 bytes, where bcrypt would truncate
    assert (await api.register("carol", password)).status_code == 201
    assert (await api.login("carol", password)).status_code == 200
    assert (await api.login("carol", password[:60])).status_code == 401
    assert (await api.register("dave", "short")).json()["code"] == "weak_password"


async def test_password_change_guesses_are_throttled_too(make_api: Callable[..., Any]) -> None:
    async with make_api(login_max_failures=3) as api:
        tokens = await api.user_and_login()

        async def change(current: str) -> Any:
            return await api.post("/auth/password", tokens["access_token"],
                                  json={"current_password": current, "new_password": "a brand new passphrase"})

        for _ in range(3):
            assert (await change(WRONG)).status_code == 401
        r = await change(PASSWORD)
        assert r.status_code == 429 and r.json()["code"] == "rate_limited"
        api.clock.advance(1)
        assert (await change(PASSWORD)).status_code == 204
