"""The browser client's modes in Chromium: DPoP with a non-extractable key,
token mode with the app's store, and the single-page app of docs/web.md,
loaded verbatim."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.web.harness import ROOT, browser, open_site, refreshes, short_server, sign_in, wait_until

pytestmark = pytest.mark.slow
__all__ = ["browser", "short_server"]  # fixtures

LEEWAY = 5  # KEYTURN_CLOCK_LEEWAY's default
KEY = """new Promise((ok, no) => { const o = indexedDB.open("keyturn"); o.onerror = no;
  o.onsuccess = () => { const r = o.result.transaction("k").objectStore("k").get("dpop");
    r.onsuccess = () => ok({ type: r.result.privateKey.type, extractable: r.result.privateKey.extractable,
                             alg: r.result.privateKey.algorithm.name }); }; })"""


def test_dpop_binds_every_tab_to_one_non_extractable_key(browser: Any, short_server: Any) -> None:
    site = open_site(browser, short_server)
    first = site.tab("?dpop")
    claims = sign_in(first)
    assert claims["cnf"]["jkt"] and claims["sub"] and claims["sid"]
    second = site.tab("?dpop")
    assert second.evaluate("kt.claims().cnf.jkt") == claims["cnf"]["jkt"]
    assert first.evaluate(KEY) == {"type": "private", "extractable": False, "alg": "ECDSA"}
    # The access token alone is useless: as a bearer, or as DPoP without a proof.
    token = first.evaluate("kt.accessToken()")
    for scheme in ("Bearer", "DPoP"):
        r = httpx.get(short_server.url + "/auth/me", headers={"authorization": f"{scheme} {token}"}, timeout=10)
        assert r.status_code == 401, r.text
    before = site.metrics()
    for page in (first, second):  # calls in both tabs across the next refresh, with proofs
        page.evaluate("window.run = atDue(5); 0")
    assert [s for page in (first, second) for s in page.evaluate("window.run")] == [200] * 10
    assert refreshes(before, site.metrics()) == {"rotated": 1.0, "requests": 1.0}
    assert second.evaluate("kt.claims().cnf.jkt") == claims["cnf"]["jkt"]
    site.context.close()


def test_token_mode_keeps_the_refresh_token_in_the_apps_store(browser: Any, short_server: Any) -> None:
    site = open_site(browser, short_server)
    first = site.tab("?token")
    exp = sign_in(first)["exp"]
    assert first.evaluate("localStorage.getItem('rt')").startswith("krt_")
    assert [c["name"] for c in site.context.cookies()] == []  # no refresh cookie in this mode
    second = site.tab("?token")
    assert second.evaluate("kt.claims().sid") == first.evaluate("kt.claims().sid")
    before = site.metrics()
    wait_until(exp + 1)
    assert first.evaluate("calls(2)") + second.evaluate("calls(2)") == [200] * 4
    assert refreshes(before, site.metrics()) == {"rotated": 1.0, "requests": 1.0}
    second.evaluate("kt.logout()")
    first.wait_for_function("events.some((x) => x.e === 'signedOut')", timeout=1_000)
    assert first.evaluate("localStorage.getItem('rt')") is None
    site.context.close()


def spa() -> str:
    """The example app, exactly as docs/web.md shows it."""
    text = (ROOT / "docs" / "web.md").read_text()
    found = re.search(r"<!-- example: spa\.html -->\n```html\n(.*?)```", text, re.S)
    assert found, "docs/web.md lost its example"
    return found.group(1)


def test_the_example_app_from_the_docs(browser: Any, short_server: Any) -> None:
    html = spa()
    assert len(html.splitlines()) <= 25
    site = open_site(browser, short_server, html=html, path="/app.html")
    page = site.context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(short_server.url + "/app.html")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "not the password")
    page.click("button:text('Sign in')")
    page.wait_for_function("document.getElementById('out').textContent.includes('invalid')")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:text('Sign in')")
    page.wait_for_function("document.getElementById('out').textContent === 'Hello, alice'")
    # Another tab, and a reload: signed in from the cookie, no password.
    other = site.context.new_page()
    other.goto(short_server.url + "/app.html")
    other.wait_for_function("document.getElementById('out').textContent === 'Hello, alice'")
    page.reload()
    page.wait_for_function("document.getElementById('out').textContent === 'Hello, alice'")
    page.click("#logout")
    page.wait_for_function("document.getElementById('out').textContent === 'Signed out.'")
    other.wait_for_function("document.getElementById('out').textContent === 'Signed out.'", timeout=1_000)
    assert other.locator("#login").is_visible() and problems == []
    site.context.close()


def test_a_401_token_expired_is_refreshed_once_and_each_call_retried_once(browser: Any, short_server: Any) -> None:
    import jwt

    site = open_site(browser, short_server)
    tab = site.tab()
    claims = sign_in(tab)
    token = tab.evaluate("kt.accessToken()")
    # claims() is the token's payload, decoded as any JWT library does.
    assert claims == tab.evaluate("kt.claims()") == jwt.decode(token, options={"verify_signature": False})
    # The client believes its token is good for an hour (as if the server's
    # clock had jumped): only the server's 401 tells it otherwise.
    tab.evaluate("kt.exp += 3600e3; kt.schedule(); 0")
    wait_until(claims["exp"] + LEEWAY + 1)  # expired even with the server's leeway
    before = site.metrics()
    assert tab.evaluate("calls(5)") == [200] * 5
    assert refreshes(before, site.metrics()) == {"rotated": 1.0, "requests": 1.0}
    text = httpx.get(short_server.url + "/metrics", timeout=10).text
    expired = re.search(r'^keyturn_http_requests_total\{method="GET",route="/auth/me",status="401"\} (\S+)$', text, re.M)
    assert expired and float(expired.group(1)) == 5.0  # each call once refused, once retried
    site.context.close()
