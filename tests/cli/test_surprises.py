"""No silent surprises: a mistyped variable, lifetimes that contradict each
other, a read-only command where there is no database, and what
``keyturn serve`` says on every start."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from keyturn.cli import app
from keyturn.cli.serve import start_lines
from keyturn.cli.settings_view import reference_markdown
from keyturn.config import lifetime_warnings, load_settings, unknown_variables
from keyturn.service.masterkey import new_master_key
from tests.cli.test_startup_failures import HANG_LIMIT, ROOT, keyturn
from tests.conftest import free_port

runner = CliRunner()


@pytest.mark.parametrize(("typo", "meant"), [
    ("KEYTURN_ACCESS_TOKN_TTL", "KEYTURN_ACCESS_TOKEN_TTL"),
    ("KEYTURN_DATABSE_URL", "KEYTURN_DATABASE_URL"),
    ("KEYTURN_REGISTRATON", "KEYTURN_REGISTRATION"),
])
def test_an_unknown_variable_names_the_closest_setting(typo: str, meant: str) -> None:
    (line,) = unknown_variables({typo: "5", "KEYTURN_ISSUER": "x", "KEYTURN_CONFIG_FILE": "f", "HOME": "/"})
    assert typo in line and f"did you mean {meant}?" in line


def test_known_and_tooling_variables_are_not_reported() -> None:
    env = {"KEYTURN_ACCESS_TOKEN_TTL": "60", "KEYTURN_TEST_REQUIRE_BACKENDS": "1", "KEYTURN_URL": "http://x"}
    assert unknown_variables(env) == []


def test_every_command_warns_about_a_typo(tmp_path: Path) -> None:
    env = {"KEYTURN_DATABASE_URL": f"sqlite:///{tmp_path}/k.db", "KEYTURN_ACCESS_TOKN_TTL": "60"}
    result = runner.invoke(app, ["config", "--json"], env=env)
    assert result.exit_code == 0
    assert "warning: KEYTURN_ACCESS_TOKN_TTL is not a keyturn setting" in result.stderr
    assert "did you mean KEYTURN_ACCESS_TOKEN_TTL?" in result.stderr
    json.loads(result.stdout)  # the warning stays off stdout, so scripts still parse it


@pytest.mark.parametrize(("values", "expected"), [
    ({"session_max_age": 3600, "refresh_token_ttl": 7200}, ["KEYTURN_SESSION_MAX_AGE (3600 s) is below"]),
    ({"access_token_ttl": 7200, "refresh_token_ttl": 3600}, ["KEYTURN_ACCESS_TOKEN_TTL (7200 s) is above"]),
    ({"access_token_ttl": 7200, "session_max_age": 3600, "refresh_token_ttl": 86_400},
     ["KEYTURN_SESSION_MAX_AGE (3600 s) is below", "KEYTURN_ACCESS_TOKEN_TTL (7200 s) is above"]),
    ({}, []),
])
def test_inconsistent_lifetimes(values: dict[str, int], expected: list[str]) -> None:
    found = lifetime_warnings(load_settings(**values))
    assert len(found) == len(expected)
    for line, start in zip(found, expected, strict=True):
        assert line.startswith(start)


def test_doctor_reports_inconsistent_lifetimes(tmp_path: Path) -> None:
    env = {"KEYTURN_DATABASE_URL": f"sqlite:///{tmp_path}/k.db", "KEYTURN_MASTER_KEY": new_master_key(),
           "KEYTURN_SESSION_MAX_AGE": "3600"}
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    checks = json.loads(runner.invoke(app, ["doctor", "--json"], env=env).stdout)["checks"]
    (lifetimes,) = [c for c in checks if c["name"] == "lifetimes"]
    assert lifetimes["status"] == "warn" and "KEYTURN_SESSION_MAX_AGE" in lifetimes["detail"]


@pytest.mark.parametrize("command", [["doctor"], ["users", "list"], ["sessions", "list"], ["keys", "list"],
                                     ["clients", "list"], ["events", "tail"]])
def test_reading_where_there_is_no_database_says_so_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, command, env={"KEYTURN_DATABASE_URL": "sqlite:///./keyturn.db"})
    assert result.exit_code == 1
    assert f"no database at {tmp_path / 'keyturn.db'}" in result.output
    assert list(tmp_path.iterdir()) == []  # neither a database nor a master key file


@pytest.mark.slow  # runs the keyturn command
def test_config_reference_works_from_any_directory(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "keyturn", "config", "--reference"], cwd=tmp_path,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                          timeout=HANG_LIMIT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == reference_markdown()
    assert list(tmp_path.iterdir()) == []


def test_start_lines_mask_credentials_and_name_the_stores(tmp_path: Path) -> None:
    settings = load_settings(database_url="postgresql://kt:db-secret@db.internal:5433/kt",
                             session_store_url="redis://:redis-secret@cache:6380/0", master_key=new_master_key())
    lines = start_lines(settings, "0.0.0.0", 8443, 4)
    text = "\n".join(lines)
    assert "db-secret" not in text and "redis-secret" not in text
    assert lines == [
        "listening on http://0.0.0.0:8443 (4 workers)",
        "database: postgresql://kt:********@db.internal:5433/kt (db.internal:5433)",
        "session store: redis://:********@cache:6380/0 (cache:6380)",
        "master key: from KEYTURN_MASTER_KEY",
    ]


@pytest.mark.slow  # runs keyturn serve
def test_serve_says_where_it_listens_what_it_uses_and_warns_on_lifetimes(tmp_path: Path) -> None:
    port = free_port()
    env = {"KEYTURN_SESSION_MAX_AGE": "3600", "KEYTURN_LOG_FORMAT": "text"}
    clean = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", **env}
    proc = subprocess.Popen([sys.executable, "-m", "keyturn", "serve", "--port", str(port)], cwd=tmp_path, env=clean,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    seen: list[str] = []
    watchdog = threading.Timer(HANG_LIMIT, proc.kill)  # ends a hang; not a timing
    watchdog.start()
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            seen.append(line.rstrip("\n"))
            if line.startswith("keyturn: master key:"):
                break
    finally:
        watchdog.cancel()
        proc.terminate()
        proc.wait(timeout=HANG_LIMIT)
    assert any("warning: KEYTURN_SESSION_MAX_AGE (3600 s) is below" in line for line in seen), seen
    assert f"keyturn: listening on http://127.0.0.1:{port} (1 worker)" in seen
    assert f"keyturn: database: sqlite:///./keyturn.db ({tmp_path / 'keyturn.db'})" in seen
    assert "keyturn: session store: the database" in seen
    assert f"keyturn: master key: {tmp_path / 'keyturn.db.master-key'}" in seen


@pytest.mark.slow  # runs the keyturn command
def test_users_add_without_a_password_or_a_terminal_says_how(tmp_path: Path) -> None:
    env = {"KEYTURN_DATABASE_URL": f"sqlite:///{tmp_path}/k.db", "KEYTURN_MASTER_KEY": new_master_key()}
    proc = keyturn(["users", "add", "alice"], env, tmp_path)  # stdin is /dev/null
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "a password is needed" in proc.stderr and "--password" in proc.stderr and "stdin" in proc.stderr
    assert not (tmp_path / "k.db").exists()
