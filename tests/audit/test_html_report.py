"""The HTML report in headless Chromium (Debian's /usr/bin/chromium via
Playwright): self-contained, the summary visible at the top, its counts the
same as the JSON report's. The screenshot lands in test-artifacts/."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.audit.conftest import SEED_PROFILE, Seed, audit
from tests.chromium import ARTIFACTS, browser  # noqa: F401 - the one Chromium fixture

pytestmark = pytest.mark.slow


@pytest.fixture
def seed_report(seed: Seed, tmp_path: Path) -> tuple[dict[str, Any], Path]:
    """The seed app's audit as JSON and as a page (made before the browser
    starts: Playwright's sync API holds the thread's event loop)."""
    page_file = tmp_path / "report.html"
    run = audit(seed.url, "-p", str(SEED_PROFILE), "--json", "--html", str(page_file))
    assert run.exit_code == 1
    return run.json(), page_file


def test_html_report_shows_the_summary_and_matches_the_json(seed_report: tuple[dict[str, Any], Path], browser: Any) -> None:
    report, page_file = seed_report
    html = page_file.read_text()
    # One self-contained page: no script, and nothing fetched from elsewhere.
    assert not re.search(r"<(script|link|img)\b", html)
    assert not re.search(r"(src|href)\s*=", html)

    page = browser.new_page(viewport={"width": 1200, "height": 900})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(page_file.as_uri())
    assert [u for u in requests if not u.startswith("file:")] == []

    summary = page.locator("#summary")
    assert summary.is_visible()
    assert summary.bounding_box()["y"] < 200  # at the top, without scrolling
    for status, count in report["summary"].items():
        tile = page.locator(f'.tile[data-status="{status}"] b')
        assert tile.inner_text() == str(count), status
    assert page.locator("#verdict").inner_text().startswith(f"{report['summary']['FAIL']} check(s) failed")
    assert page.locator("#results tbody tr").count() == len(report["results"])
    assert page.locator("#results tbody tr.fail").count() == report["summary"]["FAIL"]
    # Failures come first.
    assert page.locator("#results tbody tr").first.get_attribute("class") == "fail"

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "audit-report.png"), full_page=True)
    (ARTIFACTS / "audit-report.json").write_text(json.dumps(report, indent=2))
    page.close()


def test_html_report_fits_a_phone(seed_report: tuple[dict[str, Any], Path], browser: Any) -> None:
    """No sideways scrolling at 390 px (it was 469 px wide)."""
    report, page_file = seed_report
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(page_file.as_uri())
    assert page.locator("#results tbody tr").count() == len(report["results"])
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(ARTIFACTS / "audit-report-phone.png"), full_page=True)
    page.close()
