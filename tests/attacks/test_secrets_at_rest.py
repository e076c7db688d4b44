"""Secrets at rest: another local user reads neither the SQLite database nor
its -wal/-shm files, and `keyturn config` (pasted into tickets, screenshots)
shows no secret — while every setting that is not a secret stays readable."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from keyturn.cli import app
from keyturn.service.masterkey import new_master_key
from tests.conftest import FAST_ARGON2_ENV

SECRETS = {
    "KEYTURN_MASTER_KEY": new_master_key(),
    "KEYTURN_METRICS_TOKEN": "metrics-token-value-1",
    "KEYTURN_RESOURCE_CLIENTS": "api:resource-secret-one,feed:resource-secret-two",
    "KEYTURN_WEBHOOK_SECRET": "webhook-secret-value-3",
    "KEYTURN_HS256_SECRET": "hs256-secret-value-of-at-least-32-bytes!",
    "KEYTURN_SESSION_STORE_URL": "redis://default:redis-pass-word-4@127.0.0.1:6379/0",
    "KEYTURN_WEBHOOK_URL": "https://hook:webhook-url-pass-5@hooks.example/in",
}
SECRET_VALUES = [
    SECRETS["KEYTURN_MASTER_KEY"], "metrics-token-value-1", "resource-secret-one", "resource-secret-two",
    "webhook-secret-value-3", "hs256-secret-value", "redis-pass-word-4", "webhook-url-pass-5", "db-pass-word-6",
]
NOT_SECRETS = {"KEYTURN_PASSWORD_MIN_LENGTH": "14", "KEYTURN_REDIS_KEY_PREFIX": "tenant7", "KEYTURN_KEY_ROTATION_INTERVAL": "86400"}


def test_keyturn_config_shows_no_secret_and_every_non_secret(tmp_path: Path) -> None:
    env = {**FAST_ARGON2_ENV, **SECRETS, **NOT_SECRETS,
           "KEYTURN_DATABASE_URL": "postgresql://kt:db-pass-word-6@127.0.0.1:5432/kt"}
    for args in (["config"], ["config", "--json"]):
        result = CliRunner().invoke(app, args, env=env)
        assert result.exit_code == 0, result.output
        leaked = [v for v in SECRET_VALUES if v in result.output]
        assert leaked == []
    rows = {r["env"]: r["value"] for r in json.loads(CliRunner().invoke(app, ["config", "--json"], env=env).output)}
    assert rows["KEYTURN_PASSWORD_MIN_LENGTH"] == 14
    assert rows["KEYTURN_REDIS_KEY_PREFIX"] == "tenant7"
    assert rows["KEYTURN_KEY_ROTATION_INTERVAL"] == 86400
    assert rows["KEYTURN_DATABASE_URL"] == "postgresql://kt:********@127.0.0.1:5432/kt"
    assert rows["KEYTURN_WEBHOOK_URL"] == "https://hook:********@hooks.example/in"


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_sqlite_database_and_its_wal_and_shm_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask: new files 0644 unless made private
    try:
        env = {**FAST_ARGON2_ENV, "KEYTURN_DATABASE_URL": f"sqlite:///{tmp_path}/data/kt.db",
               "KEYTURN_MASTER_KEY": new_master_key()}
        runner = CliRunner()
        assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
        result = runner.invoke(app, ["users", "add", "alice"], env=env, input="correct horse battery staple\n")
        assert result.exit_code == 0, result.output
        # While a writer holds it open, the database has its -wal and -shm.
        conn = sqlite3.connect(tmp_path / "data" / "kt.db")
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("UPDATE kt_users SET disabled = disabled")
            conn.commit()
            files = sorted(p.name for p in (tmp_path / "data").iterdir())
            modes = {name: stat.S_IMODE((tmp_path / "data" / name).stat().st_mode) for name in files}
        finally:
            conn.close()
    finally:
        os.umask(old)
    assert {"kt.db", "kt.db-wal", "kt.db-shm"} <= set(modes)
    assert all(mode & 0o077 == 0 for mode in modes.values()), modes
