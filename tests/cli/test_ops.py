"""CLI: --help with examples everywhere, tables and --json, doctor, config."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from keyturn.cli import app
from keyturn.cli.settings_view import MASK, reference_markdown
from keyturn.service.masterkey import new_master_key
from tests.conftest import FAST_ARGON2_ENV, free_port

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _leaf_commands() -> list[str]:
    found: list[str] = []

    def walk(cmd: Any, path: list[str]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, [*path, name])
        else:
            found.append(" ".join(path))

    walk(get_command(app), [])
    return sorted(found)


@pytest.mark.parametrize("command", _leaf_commands())
def test_every_command_has_help_with_an_example(command: str) -> None:
    result = runner.invoke(app, [*command.split(), "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Example" in result.output


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"KEYTURN_DATABASE_URL": f"sqlite:///{tmp_path}/k.db", "KEYTURN_MASTER_KEY": new_master_key(),
            **FAST_ARGON2_ENV}


def invoke(args: list[str], env: dict[str, str], **kw: Any) -> Any:
    return runner.invoke(app, args, env=env, **kw)


def test_users_and_sessions_as_table_and_json(env: dict[str, str]) -> None:
    assert invoke(["users", "add", "alice"], env, input="correct horse battery staple\n").exit_code == 0
    table = invoke(["users", "list"], env)
    assert table.exit_code == 0
    header, row = table.output.splitlines()[:2]
    assert header.split() == ["ID", "USERNAME", "STATUS", "CREATED"]
    assert "alice" in row and "active" in row
    rows = json.loads(invoke(["users", "list", "--json"], env).output)
    assert rows[0]["username"] == "alice"
    assert json.loads(invoke(["sessions", "list", "--json"], env).output) == []
    assert "no live sessions" in invoke(["sessions", "list"], env).output


def test_doctor_on_a_healthy_database(env: dict[str, str]) -> None:
    assert invoke(["db", "upgrade"], env).exit_code == 0
    result = invoke(["doctor", "--json"], env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    status = {c["name"]: c["status"] for c in report["checks"]}
    assert report["ok"] is True
    assert status["database"] == status["migrations"] == status["signing keys"] == status["database clock"] == "ok"


def test_doctor_names_a_wrong_master_key(env: dict[str, str]) -> None:
    assert invoke(["db", "upgrade"], env).exit_code == 0
    result = invoke(["doctor"], {**env, "KEYTURN_MASTER_KEY": new_master_key()})
    assert result.exit_code == 1
    assert "[FAIL] signing keys" in result.output and "fix:" in result.output


def test_doctor_says_when_migrations_are_missing(env: dict[str, str]) -> None:
    sqlite3.connect(env["KEYTURN_DATABASE_URL"].removeprefix("sqlite:///")).close()  # an empty database file
    result = invoke(["doctor", "--json"], env)
    checks = {c["name"]: c for c in json.loads(result.output)["checks"]}
    assert checks["migrations"]["status"] == "warn"
    assert "keyturn db upgrade" in checks["migrations"]["fix"]


def test_doctor_fails_on_an_unreachable_store(env: dict[str, str]) -> None:
    url = f"postgresql://nobody@127.0.0.1:{free_port()}/none"
    result = invoke(["doctor", "--json"], {**env, "KEYTURN_DATABASE_URL": url, "KEYTURN_STORE_TIMEOUT": "1"})
    assert result.exit_code == 1
    checks = {c["name"]: c for c in json.loads(result.output)["checks"]}
    assert checks["database"]["status"] == "fail"


def test_doctor_reports_a_bad_setting(env: dict[str, str]) -> None:
    result = invoke(["doctor"], {**env, "KEYTURN_ACCESS_TOKEN_TTL": "nope"})
    assert result.exit_code == 1
    assert "KEYTURN_ACCESS_TOKEN_TTL" in result.output


def test_config_masks_secrets(env: dict[str, str]) -> None:
    secrets = {"KEYTURN_METRICS_TOKEN": "metrics-secret-value", "KEYTURN_DATABASE_URL": "postgresql://kt:db-pass-word@db/kt"}
    full = {**env, **secrets}
    for args in (["config"], ["config", "--json"]):
        result = invoke(args, full)
        assert result.exit_code == 0, result.output
        for value in [env["KEYTURN_MASTER_KEY"], "metrics-secret-value", "db-pass-word"]:
            assert value not in result.output
        assert MASK in result.output
    rows = {r["name"]: r for r in json.loads(invoke(["config", "--json"], full).output)}
    assert rows["database_url"]["value"] == f"postgresql://kt:{MASK}@db/kt"
    assert rows["metrics_token"]["source"] == "env"
    assert rows["access_token_ttl"] == {"name": "access_token_ttl", "env": "KEYTURN_ACCESS_TOKEN_TTL",
                                        "value": 1800, "source": "default"}


def test_configuration_reference_is_current() -> None:
    committed = (ROOT / "docs" / "configuration.md").read_text()
    assert committed == reference_markdown(), "run `keyturn config --reference` and commit docs/configuration.md"


def test_config_reference_writes_the_file(tmp_path: Path, env: dict[str, str]) -> None:
    out = tmp_path / "configuration.md"
    assert invoke(["config", "--reference", "-o", str(out)], env).exit_code == 0
    assert out.read_text() == reference_markdown()


class _Keys:
    def __init__(self, stored: list[Any]) -> None:
        self._stored = stored

    async def reload(self, now: float) -> None:
        return None

    def describe(self) -> list[Any]:
        return self._stored


def _doctor_keys(stored: list[Any], now: float) -> Any:
    import asyncio
    from types import SimpleNamespace

    from keyturn.cli.doctor.keys import check_keys

    rt = SimpleNamespace(keys=_Keys(stored), settings=SimpleNamespace(signing_alg="EdDSA"))
    return asyncio.run(check_keys(rt, now))


def test_doctor_ages_the_key_that_signs_now_not_a_pending_one() -> None:
    from keyturn.stores.protocols import StoredKey

    now = 1_800_000_000.0
    old = StoredKey("old", "EdDSA", b"", "{}", now - 400 * 86_400, retired_at=now + 3600)
    alone = _doctor_keys([StoredKey("old", "EdDSA", b"", "{}", now - 400 * 86_400)], now)
    assert alone.status == "warn" and "old" in alone.detail and "400 days" in alone.detail
    # A rotation under way: the new key is published but signs only in an hour.
    pending = StoredKey("new", "EdDSA", b"", "{}", now, activates_at=now + 3600)
    check = _doctor_keys([old, pending], now)
    assert check.status == "ok", check
    assert "key old, 400 days old" in check.detail
    assert "new signs from" in check.detail
    # A revoked key never counts as the one signing.
    revoked = StoredKey("bad", "EdDSA", b"", "{}", now - 86_400, revoked_at=now - 60)
    check = _doctor_keys([revoked], now)
    assert check.status == "warn" and "no active" in check.detail
