"""Many tabs, one session: the browser client in Debian's Chromium against a
real ``keyturn serve`` whose access tokens live 10 s. Refreshes are counted
by the server (its /metrics), not by the page."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.web.harness import Site, browser, events, open_site, refreshes, short_server, sign_in, wait_until

pytestmark = pytest.mark.slow
LEEWAY = 5  # KEYTURN_CLOCK_LEEWAY's default
__all__ = ["browser", "short_server"]  # fixtures


def three_tabs(site: Site) -> list[Any]:
    first = site.tab()
    sign_in(first)
    others = [site.tab(), site.tab()]
    for page in others:  # signed in from the first tab, with no refresh of their own
        assert page.evaluate("kt.claims() && kt.claims().sub") is not None
    return [first, *others]


@pytest.mark.parametrize("locks", ["web-locks", "broadcast-fallback"])
def test_thirty_calls_in_three_tabs_at_expiry_make_one_refresh(browser: Any, short_server: Any, locks: str) -> None:
    site = open_site(browser, short_server)
    if locks == "broadcast-fallback":  # a browser without Web Locks
        site.context.add_init_script("Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined })")
    tabs = three_tabs(site)
    assert tabs[0].evaluate("navigator.locks === undefined") == (locks == "broadcast-fallback")
    assert refreshes({}, site.metrics()).get("requests", 0) == 0
    seen = []
    for _ in range(3):  # three expiries in a row
        before = site.metrics()
        for page in tabs:  # 10 calls per tab, fired as each tab's refresh falls due
            page.evaluate("window.run = atDue(10); 0")
        statuses = [s for page in tabs for s in page.evaluate("window.run")]
        assert statuses == [200] * 30
        time.sleep(0.5)  # let a straggler refresh reach the server, if there were one
        delta = refreshes(before, site.metrics())
        seen.append(delta)
        assert delta == {"rotated": 1.0, "requests": 1.0}, delta
    print(f"refreshes at the server per expiry ({locks}):", seen)
    assert all(not events(page, "sessionEnded") for page in tabs)
    site.context.close()


def test_thirty_calls_in_three_tabs_woken_after_expiry_make_one_refresh(browser: Any, short_server: Any) -> None:
    """Past expiry for real: every tab sleeps (Playwright's clock) until the
    access token is dead even by the server's leeway, then all wake at once
    with their timers overdue and 30 calls to make."""
    site = open_site(browser, short_server)
    site.context.clock.install()
    tabs = three_tabs(site)
    clock = site.context.clock
    seen = []
    for _ in range(3):
        exp = tabs[0].evaluate("kt.claims().exp")
        clock.pause_at(tabs[0].evaluate("Date.now()") / 1000 + 0.05)  # seconds, in Python
        asleep = time.time()
        before = site.metrics()
        wait_until(exp + LEEWAY + 1)
        clock.fast_forward(int((time.time() - asleep) * 1000))
        clock.resume()
        for page in tabs:
            page.evaluate("window.run = calls(10); 0")
        assert [s for page in tabs for s in page.evaluate("window.run")] == [200] * 30
        time.sleep(0.5)
        delta = refreshes(before, site.metrics())
        seen.append(delta)
        assert delta == {"rotated": 1.0, "requests": 1.0}, delta
    print("refreshes at the server per wake after expiry:", seen)
    site.context.close()


def test_a_tab_closed_in_the_middle_of_a_refresh(browser: Any, short_server: Any) -> None:
    site = open_site(browser, short_server)
    tabs = three_tabs(site)
    held: list[Any] = []
    asked: list[Any] = []  # the page of every refresh request the browser sends
    site.context.on("request", lambda r: asked.append(r.frame.page) if r.url.endswith("/auth/refresh") else None)
    site.context.route(short_server.url + "/auth/refresh", lambda route: held.append(route))
    exp = tabs[0].evaluate("kt.claims().exp")
    deadline = time.time() + 15
    while not held and time.time() < deadline:  # the first tab whose timer fires
        tabs[0].wait_for_timeout(100)
    assert held, "no refresh was attempted"
    route = held[0]
    closing = route.request.frame.page
    # The server answers (and rotates); the tab that asked closes before
    # its answer lands.
    before = site.metrics()
    route.fetch()
    closing.close()
    site.context.unroute(short_server.url + "/auth/refresh")
    for extra in held[1:]:
        extra.continue_()
    survivors = [page for page in tabs if page is not closing]
    wait_until(exp + 0.5)  # the old access token has expired at the server
    for page in survivors:
        page.evaluate("window.run = calls(5); 0")
    assert [s for page in survivors for s in page.evaluate("window.run")] == [200] * 10
    delta = refreshes(before, site.metrics())
    from_survivors = [page for page in asked if page is not closing]
    print("refreshes at the server from the closed tab on:", delta, "of them from the tabs left:", len(from_survivors))
    # Exactly one refresh for the tabs left, and whatever the closed tab's
    # request did at the server (it may or may not have rotated), no alarm.
    assert len(from_survivors) == 1
    assert delta.get("reused", 0) == 0 and delta.get("invalid", 0) == 0, delta
    assert all(not events(page, "sessionEnded") for page in survivors)
    site.context.close()


def test_logout_in_one_tab_signs_the_others_out_within_a_second(browser: Any, short_server: Any) -> None:
    site = open_site(browser, short_server)
    tabs = three_tabs(site)
    tabs[0].evaluate("kt.logout()")
    for page in tabs[1:]:
        page.wait_for_function("events.some((x) => x.e === 'signedOut')", timeout=1_000)
        assert page.evaluate("kt.claims()") is None
    assert [len(events(page, "signedOut")) for page in tabs] == [1, 1, 1]
    # The cookie is gone: a reload stays signed out and asks nothing.
    before = site.metrics()
    assert tabs[1].reload() and tabs[1].evaluate("window.ready") is False
    assert refreshes(before, site.metrics()) == {}
    site.context.close()


def test_a_revoked_session_ends_once_per_tab_without_a_retry_storm(browser: Any, short_server: Any) -> None:
    import subprocess
    import sys

    site = open_site(browser, short_server)
    tabs = three_tabs(site)
    sid = tabs[0].evaluate("kt.claims().sid")
    before = site.metrics()
    r = subprocess.run([sys.executable, "-m", "keyturn", "sessions", "revoke", sid], env=short_server.env,
                       cwd=Path(short_server.log_path).parent, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    for page in tabs:
        page.evaluate("window.run = calls(5); 0")
    assert {s for page in tabs for s in page.evaluate("window.run")} == {401}
    for page in tabs:
        page.wait_for_function("events.some((x) => x.e === 'sessionEnded')", timeout=5_000)
    # Past the next refresh time and more calls: nothing more is tried.
    time.sleep(10)
    for page in tabs:
        assert set(page.evaluate("calls(3)")) == {401}
    for page in tabs:
        ended = events(page, "sessionEnded")
        assert [e["d"] for e in ended] == [{"reason": "session_revoked"}], ended
    delta = refreshes(before, site.metrics())
    print("refresh attempts after the revocation:", delta)
    # Every attempt after the revocation is answered session_revoked ("revoked");
    # at most one per tab (a proactive refresh just before it may have rotated).
    assert 1 <= delta["revoked"] <= len(tabs) and delta["requests"] == delta["revoked"] + delta.get("rotated", 0), delta
    site.context.close()
