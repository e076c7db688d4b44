"""The seed-style app (tests/audit/seed_app.py) through the TOML profile in
examples/: the audit finds its holes and exits 1; a half-mended variant
gets a mixed report."""

from __future__ import annotations

from tests.audit.conftest import SEED_PROFILE, Seed, audit


def test_seed_app_fails_on_its_known_holes(seed: Seed) -> None:
    run = audit(seed.url, "--profile", str(SEED_PROFILE), "--json")
    assert run.exit_code == 1, run.stdout
    statuses = run.statuses()
    rows = {row["id"]: row for row in run.json()["results"]}
    assert statuses["refresh-reuse-revokes"] == "FAIL"
    assert statuses["race-no-fork"] == "FAIL", rows["race-no-fork"]["evidence"]
    assert statuses["logout-access-dead"] == "FAIL"
    assert statuses["jwt-alg"] == "WARN"
    assert "reuse not detected" in rows["refresh-reuse-revokes"]["evidence"]
    assert "distinct successor" in rows["race-no-fork"]["evidence"]
    assert "HS256" in rows["jwt-alg"]["evidence"]
    # What it gets right is not reported as wrong.
    assert statuses["logout-refresh-dead"] == "PASS"
    assert statuses["jwt-alg-none"] == "PASS"
    assert statuses["jwks-public-only"] == "SKIP"  # the profile names no JWKS


def test_seed_app_text_report_says_fail(seed: Seed) -> None:
    run = audit(seed.url, "-p", str(SEED_PROFILE), "-q")
    assert run.exit_code == 1
    assert "result: FAIL" in run.stdout
    assert run.stderr == ""  # --quiet: no progress


def test_half_mended_app_gets_a_mixed_report(mended_seed: Seed) -> None:
    run = audit(mended_seed.url, "-p", str(SEED_PROFILE), "--json")
    assert run.exit_code == 1, run.stdout
    statuses = run.statuses()
    # Mended: atomic compare-and-set, access tokens only as bearer.
    assert statuses["race-no-fork"] == "PASS"
    assert statuses["race-session-survives"] == "PASS"
    assert statuses["refresh-as-bearer"] == "PASS"
    # A strict CAS without a grace window refuses the losers of the race.
    assert statuses["race-no-logout"] == "WARN"
    # Still wrong: no reuse detection, access token alive after logout.
    assert statuses["refresh-reuse-revokes"] == "FAIL"
    assert statuses["logout-access-dead"] == "FAIL"
    summary = run.json()["summary"]
    assert summary["PASS"] > 0 and summary["FAIL"] > 0 and summary["WARN"] > 0
