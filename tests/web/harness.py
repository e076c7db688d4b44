"""What the browser tests of the web client share: Chromium, a keyturn with
the access-token lifetime at its floor, a page on keyturn's origin that
loads /keyturn.js, and the server's own refresh counts."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from keyturn.service.masterkey import new_master_key
from tests.chromium import browser  # noqa: F401 - the web tests take it from here
from tests.conftest import PASSWORD, Server, lane, start_server, stop_server

TTL = 10  # KEYTURN_ACCESS_TOKEN_TTL's floor
ROOT = Path(__file__).resolve().parents[2]

# A page on keyturn's origin (served by the test's route, not by keyturn)
# that loads the module keyturn serves and records what the client says.
HARNESS = """<!doctype html><meta charset="utf-8"><title>harness</title>
<script type="module">
import { Keyturn } from "/keyturn.js";
const q = new URLSearchParams(location.search), opts = {};
if (q.has("dpop")) opts.dpop = true;
if (q.has("token")) opts.mode = "token", opts.store = {
  get: () => localStorage.getItem("rt"),
  set: (t) => t === null ? localStorage.removeItem("rt") : localStorage.setItem("rt", t) };
const kt = window.kt = new Keyturn(opts);
window.events = [];
for (const e of ["signedIn", "refreshed", "sessionEnded", "signedOut"])
  kt.on(e, (d) => events.push({ e, d, t: Date.now() }));
window.calls = (n) => Promise.all(Array.from({ length: n }, () => kt.fetch("/auth/me").then((r) => r.status)));
// n calls at the moment this tab's refresh falls due (its own timer fires then too)
window.atDue = (n) => new Promise((r) => setTimeout(r, kt.exp - Math.min(60000, kt.life / 5) - kt.skew - Date.now()))
  .then(() => calls(n));
window.ready = kt.resume();
</script>"""


@dataclass
class Site:
    """keyturn plus the browser context whose tabs share its cookie."""

    server: Server
    context: Any

    def tab(self, query: str = "") -> Any:
        page = self.context.new_page()
        page.goto(self.server.url + "/harness.html" + query)
        page.wait_for_function("window.ready !== undefined", timeout=10_000)
        page.evaluate("window.ready")
        return page

    def metrics(self) -> dict[str, float]:
        """The server's refresh outcomes and refresh requests, by its own count."""
        text = httpx.get(self.server.url + "/metrics", timeout=10).text
        counts: dict[str, float] = {}
        for outcome, n in re.findall(r'^keyturn_refreshes_total\{outcome="([^"]+)"\} (\S+)$', text, re.M):
            counts[outcome] = float(n)
        counts["requests"] = sum(float(n) for n in re.findall(
            r'^keyturn_http_requests_total\{[^}]*route="/auth/refresh"[^}]*\} (\S+)$', text, re.M))
        return counts


def refreshes(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: after.get(k, 0.0) - before.get(k, 0.0) for k in set(before) | set(after) if after.get(k, 0.0) != before.get(k, 0.0)}


@pytest.fixture
@lane("slow")
def short_server(tmp_path: Path) -> Iterator[Server]:
    srv = start_server(tmp_path, {"KEYTURN_MASTER_KEY": new_master_key(), "KEYTURN_ACCESS_TOKEN_TTL": str(TTL)})
    try:
        r = httpx.post(srv.url + "/auth/register", json={"username": "alice", "password": PASSWORD}, timeout=30)
        assert r.status_code == 201, r.text
        yield srv
    finally:
        stop_server(srv)


def open_site(browser: Any, server: Server, html: str = HARNESS, path: str = "/harness.html", **context: Any) -> Site:
    ctx = browser.new_context(**context)
    ctx.set_default_timeout(20_000)
    ctx.route(server.url + path + "*", lambda route: route.fulfill(body=html, content_type="text/html"))
    return Site(server, ctx)


def sign_in(page: Any) -> dict[str, Any]:
    claims: dict[str, Any] = page.evaluate(f"kt.login('alice', {PASSWORD!r})")
    return claims


def wait_until(deadline: float) -> None:
    """Real time (the server's clock), not the page's."""
    time.sleep(max(0.0, deadline - time.time()))


def events(page: Any, name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(f"events.filter((x) => x.e === {name!r})")
    return found
