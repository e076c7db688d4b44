"""/account end to end in headless Chromium (Debian's /usr/bin/chromium,
driven by Playwright; no browser download), against a real ``keyturn serve``."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.chromium import ARTIFACTS, browser  # noqa: F401 - the one Chromium fixture
from tests.conftest import PASSWORD, Server

pytestmark = pytest.mark.slow


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as pw_expect

    return pw_expect(locator)


def _other_session(server: Server) -> dict[str, Any]:
    r = httpx.post(server.url + "/auth/login", json={"username": "alice", "password": PASSWORD},
                   headers={"user-agent": "curl/8.5.0"})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_sign_in_list_sign_other_out_and_sign_out(server: Server, browser: Any) -> None:
    assert httpx.post(server.url + "/auth/register", json={"username": "alice", "password": PASSWORD}).status_code == 201
    other = _other_session(server)

    page = browser.new_page(viewport={"width": 1000, "height": 720})
    response = page.goto(server.url + "/account")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.fill("#username", "alice")
    page.fill("#password", PASSWORD)
    page.click("#signin-button")
    rows = page.locator("#sessions-body tr")
    rows.first.wait_for()
    assert rows.count() == 2
    current = page.locator("#sessions-body tr.current")
    assert "This device" in current.inner_text()
    assert "Headless Chrome" in current.inner_text()
    assert "127.0.0.1" in current.inner_text()
    other_row = page.locator(f'#sessions-body tr[data-session-id="{other["session_id"]}"]')
    assert "curl" in other_row.inner_text()

    # The refresh token never reached the page: only the HttpOnly cookie has it.
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["keyturn_refresh"]["httpOnly"] is True
    assert cookies["keyturn_refresh"]["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""

    # A reload signs in again from the cookie (the page's own refresh).
    page.reload()
    rows.first.wait_for()
    assert rows.count() == 2

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "account.png"), full_page=True)

    other_row.get_by_role("button", name="Sign out").click()
    expect(page.locator("#sessions-body tr")).to_have_count(1)
    assert "Signed out curl" in page.inner_text("#status")
    r = httpx.post(server.url + "/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert r.status_code == 401
    assert r.json()["code"] == "session_revoked"

    page.click("#signout")
    page.locator("#signin").wait_for()
    assert "You are signed out" in page.inner_text("#status")
    # The cookie is gone and a refresh from the page no longer works.
    status = page.evaluate(
        "fetch('/auth/refresh', {method: 'POST', headers: {'X-Keyturn-Cookie': '1'}}).then(r => r.status)"
    )
    assert status == 400
    page.reload()
    page.locator("#signin").wait_for()
    assert page.locator("#account").is_hidden()


def test_change_password_ends_other_sessions(server: Server, browser: Any) -> None:
    assert httpx.post(server.url + "/auth/register", json={"username": "alice", "password": PASSWORD}).status_code == 201
    other = _other_session(server)
    page = browser.new_page()
    page.goto(server.url + "/account")
    page.fill("#username", "alice")
    page.fill("#password", PASSWORD)
    page.click("#signin-button")
    page.locator("#sessions-body tr").first.wait_for()
    page.fill("#current-password", PASSWORD)
    page.fill("#new-password", "a brand new passphrase")
    page.click("#password-form button[type=submit]")
    expect(page.locator("#sessions-body tr")).to_have_count(1)
    assert "Password changed" in page.inner_text("#status")
    r = httpx.post(server.url + "/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert r.json()["code"] == "session_revoked"


def test_page_has_no_inline_script_and_strict_csp(server: Server) -> None:
    r = httpx.get(server.url + "/account")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "'unsafe-inline'" not in csp
    assert "<script>" not in r.text and " on" + "click=" not in r.text
    assert r.headers["x-frame-options"] == "DENY"


IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


def _watch(page: Any) -> list[str]:
    """Everything a visitor's console would complain about: errors and
    warnings, uncaught exceptions, failed loads and 4xx/5xx answers."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url} {r.failure}"))
    page.on("response", lambda r: problems.append(f"{r.status}: {r.url}") if r.status >= 400 else None)
    return problems


def _settle(page: Any, problems: list[str]) -> None:
    """Wait (bounded) until no request is in flight, so late ones (the icon) are seen too."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_load_state("networkidle", timeout=15_000)
    except PlaywrightTimeout:
        problems.append("a request never finished")


def _fits(page: Any, width: int) -> None:
    """Nothing scrolls sideways, and every "Sign out" can be reached."""
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    buttons = page.get_by_role("button", name="Sign out", exact=True)
    assert buttons.count() >= 1
    for i in range(buttons.count()):
        box = buttons.nth(i).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, box


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_account_page_fits_the_screen_without_console_errors(server: Server, browser: Any, viewport: str) -> None:
    assert httpx.post(server.url + "/auth/register", json={"username": "alice", "password": PASSWORD}).status_code == 201
    for agent in ("curl/8.5.0", IPHONE):
        r = httpx.post(server.url + "/auth/login", json={"username": "alice", "password": PASSWORD},
                       headers={"user-agent": agent})
        assert r.status_code == 200, r.text
    size = VIEWPORTS[viewport]
    context = browser.new_context(viewport=size)
    page = context.new_page()
    problems = _watch(page)
    ARTIFACTS.mkdir(exist_ok=True)

    # First visit, no cookie: the sign-in form, and nothing failing behind it.
    page.goto(server.url + "/account")
    page.locator("#signin").wait_for()
    _settle(page, problems)
    assert page.evaluate("document.documentElement.scrollWidth") <= size["width"]
    page.screenshot(path=str(ARTIFACTS / f"account-signin-{viewport}.png"), full_page=True)
    assert problems == []

    page.fill("#username", "alice")
    page.fill("#password", PASSWORD)
    page.click("#signin-button")
    rows = page.locator("#sessions-body tr")
    expect(rows).to_have_count(3)
    _settle(page, problems)
    _fits(page, size["width"])
    # Device, address and times of every session are on screen, not cut off.
    for cell in page.locator("#sessions-body td:not(:empty)").all():
        box = cell.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= size["width"], box
    iphone = page.locator("#sessions-body tr", has_text="Safari on iOS")
    assert "127.0.0.1" in iphone.inner_text() and "just now" in iphone.inner_text()
    # One wording for "moments ago": this device's row says it the same way.
    times = page.locator("#sessions-body td[data-label='Last active']").all_inner_texts()
    assert "now" not in [t.strip() for t in times], times
    # On the phone each session is a card whose lines say what they are;
    # on the desktop the table's header does.
    labels = iphone.locator("td[data-label]").evaluate_all("tds => tds.map(td => getComputedStyle(td, '::before').content)")
    if viewport == "phone":
        assert labels == ['"IP address"', '"Signed in"', '"Last active"']
        assert page.locator("#sessions thead").is_hidden()
    else:
        assert labels == ["none"] * 3
        assert page.locator("#sessions thead").is_visible()

    # Back later: the page signs in again from its cookie, quietly.
    page.reload()
    expect(rows).to_have_count(3)
    _settle(page, problems)
    _fits(page, size["width"])
    page.screenshot(path=str(ARTIFACTS / f"account-{viewport}.png"), full_page=True)
    assert problems == []
    context.close()


def test_docs_render_offline_under_csp(server: Server, browser: Any) -> None:
    """Swagger UI from packaged assets: every request stays on our origin and
    the page renders the operations with no CSP violation."""
    page = browser.new_page()
    elsewhere: list[str] = []
    page.on("request", lambda req: None if req.url.startswith(server.url) else elsewhere.append(req.url))
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.goto(server.url + "/docs")
    expect(page.locator(".opblock-summary-path").first).to_be_visible(timeout=15_000)
    assert "/auth/login" in page.locator(".opblock-summary-path").all_inner_texts()
    assert elsewhere == [] and violations == []
