"""Time in the browser: a network that goes away and comes back, a laptop
that sleeps past expiry (Playwright's clock control), a clock an hour off.
keyturn's access tokens live 10 s; the host's clock is the server's."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.web.harness import TTL, browser, open_site, refreshes, short_server, sign_in, wait_until

pytestmark = pytest.mark.slow
__all__ = ["browser", "short_server"]  # fixtures


def test_offline_past_expiry_then_online(browser: Any, short_server: Any) -> None:
    site = open_site(browser, short_server)
    tab = site.tab()
    exp = sign_in(tab)["exp"]
    before = site.metrics()
    site.context.set_offline(True)
    wait_until(exp + 1)  # the refresh fell due while offline and could not happen
    assert tab.evaluate("kt.fetch('/auth/me').then(() => 'answered', () => 'offline')") == "offline"
    assert refreshes(before, site.metrics()) == {}
    site.context.set_offline(False)
    assert tab.evaluate("calls(3)") == [200] * 3
    assert refreshes(before, site.metrics()) == {"rotated": 1.0, "requests": 1.0}
    assert tab.evaluate("events.map((x) => x.e)") == ["signedIn", "refreshed"]
    site.context.close()


def signed_in_then_frozen(browser: Any, server: Any) -> tuple[Any, Any, float, dict[str, float]]:
    """A tab signed in under Playwright's clock, whose timers then stop (the
    lid closes): the site, the tab, the access token's expiry and the
    server's refresh counts at that moment."""
    site = open_site(browser, server)
    site.context.clock.install()
    tab = site.tab()
    exp = sign_in(tab)["exp"]
    before = site.metrics()
    tab.clock.pause_at(tab.evaluate("Date.now()") / 1000 + 0.05)  # seconds, in Python
    return site, tab, exp, before


def test_a_laptop_that_sleeps_past_expiry(browser: Any, short_server: Any) -> None:
    # The lid closes: no timer runs in the page while real time passes the expiry.
    site, tab, exp, before = signed_in_then_frozen(browser, short_server)
    asleep = time.time()
    wait_until(exp + 2)
    assert refreshes(before, site.metrics()) == {}
    # The lid opens: the page's time jumps, late timers fire once.
    tab.clock.fast_forward(int((time.time() - asleep) * 1000))
    tab.clock.resume()
    assert tab.evaluate("calls(3)") == [200] * 3
    assert refreshes(before, site.metrics()) == {"rotated": 1.0, "requests": 1.0}
    site.context.close()


@pytest.mark.parametrize(("offset", "dpop"), [(3600, False), (-3600, False), (3600, True)],
                         ids=["an-hour-fast", "an-hour-slow", "an-hour-fast-dpop"])
def test_a_clock_an_hour_wrong_still_refreshes_before_expiry(
    browser: Any, short_server: Any, offset: int, dpop: bool
) -> None:
    site = open_site(browser, short_server)
    site.context.clock.install(time=time.time() + offset)
    sent: list[float] = []
    site.context.on("request", lambda r: sent.append(time.time()) if r.url.endswith("/auth/refresh") else None)
    tab = site.tab("?dpop" if dpop else "")
    assert abs(tab.evaluate("Date.now() / 1000") - offset - time.time()) < 60  # the page's clock is off
    claims = sign_in(tab)
    assert claims["exp"] - claims["iat"] == TTL
    deadline = time.time() + 2 * TTL
    while not sent and time.time() < deadline:
        tab.wait_for_timeout(100)
    assert sent, "no refresh"
    # By the server's clock: not at once (a fast clock thinks the token is
    # old), and not after expiry (a slow clock thinks it is young).
    assert claims["iat"] + TTL / 2 <= sent[0] < claims["exp"], (sent[0] - claims["iat"])
    assert tab.evaluate("calls(2)") == [200, 200]
    if dpop:
        assert tab.evaluate("kt.claims().cnf.jkt")
    site.context.close()


@pytest.mark.parametrize("wake", ["visibilitychange", "online"])
def test_waking_up_refreshes_at_once_when_due(browser: Any, short_server: Any, wake: str) -> None:
    """With every timer frozen, the wake-up event alone brings the refresh."""
    site, tab, exp, before = signed_in_then_frozen(browser, short_server)
    wait_until(exp + 1)
    tab.clock.set_system_time(time.time())  # the page's clock catches up; no timer fires
    assert refreshes(before, site.metrics()) == {}
    target = "document" if wake == "visibilitychange" else "window"
    tab.evaluate(f"{target}.dispatchEvent(new Event({wake!r})); 0")
    tab.wait_for_function("events.some((x) => x.e === 'refreshed')", timeout=10_000)
    assert refreshes(before, site.metrics()) == {"rotated": 1.0, "requests": 1.0}
    tab.clock.resume()
    assert tab.evaluate("calls(2)") == [200, 200]
    site.context.close()
