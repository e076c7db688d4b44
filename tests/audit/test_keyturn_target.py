"""keyturn itself, a real ``keyturn serve`` on SQLite, PostgreSQL and Redis:
every check of the catalogue passes."""

from __future__ import annotations

import pytest

from keyturn.audit.checks import CATALOGUE
from tests.audit.conftest import audit
from tests.conftest import Server

DEFAULT_CHECKS = {c.id for c in CATALOGUE if c.default}


@pytest.mark.parametrize("keyturn_on", ["sqlite", "postgresql", "redis"], indirect=True)
def test_every_check_passes_on_keyturn(keyturn_on: Server) -> None:
    run = audit(keyturn_on.url, "--json")
    assert run.exit_code == 0, run.stdout
    statuses = run.statuses()
    assert set(statuses) == DEFAULT_CHECKS
    assert {k: v for k, v in statuses.items() if v != "PASS"} == {}
    report = run.json()
    assert report["failed"] is False
    assert report["sessions"]["opened"] == report["sessions"]["ended"] > 0


def test_text_report_of_a_fresh_keyturn_is_all_pass(keyturn_on: Server) -> None:
    run = audit(keyturn_on.url)
    assert run.exit_code == 0, run.stdout
    n = len(DEFAULT_CHECKS)
    assert f"{n} checks: {n} PASS, 0 FAIL, 0 WARN, 0 SKIP" in run.stdout
    assert "result: nothing failed" in run.stdout
    # Progress went to stderr, one line per check.
    assert run.stderr.count("PASS") == n


def test_keyturn_throttles_wrong_passwords_when_asked(keyturn_on: Server) -> None:
    run = audit(keyturn_on.url, "--json", "--check", "throttling")
    assert run.exit_code == 0, run.stdout
    assert run.statuses() == {"login-throttled": "PASS"}
    assert "429 after" in run.json()["results"][0]["evidence"]


def test_throttling_is_not_run_unless_asked(keyturn_on: Server) -> None:
    run = audit(keyturn_on.url, "--json", "--check", "tokens")
    assert "login-throttled" not in run.statuses()
    assert set(run.statuses()) == {c.id for c in CATALOGUE if c.family == "tokens"}
