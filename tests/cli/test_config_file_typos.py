"""A typo in the TOML config file is said like a typo in a variable: the
key is ignored, so the user hears it, with the setting they likely meant."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from keyturn.cli import app
from keyturn.config import unknown_variables
from keyturn.service.masterkey import new_master_key

runner = CliRunner()


def config_file(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "keyturn.toml"
    path.write_text(text)
    return {"KEYTURN_CONFIG_FILE": str(path), "KEYTURN_DATABASE_URL": f"sqlite:///{tmp_path}/k.db",
            "KEYTURN_MASTER_KEY": new_master_key()}


def test_an_unknown_key_names_the_closest_setting(tmp_path: Path) -> None:
    env = config_file(tmp_path, 'acess_token_ttl = 60\nregistration = "closed"\n')
    (line,) = unknown_variables(env)
    assert "acess_token_ttl is not a keyturn setting and is ignored; did you mean access_token_ttl?" in line
    assert str(tmp_path / "keyturn.toml") in line


def test_a_table_is_named_with_the_keys_it_hides(tmp_path: Path) -> None:
    env = config_file(tmp_path, "[keyturn]\naccess_token_ttl = 60\n\n[other]\nx = 1\n")
    lines = unknown_variables(env)
    assert len(lines) == 2
    assert "[keyturn] is not a keyturn setting" in lines[0] and "move access_token_ttl to the top" in lines[0]
    assert "[other]" in lines[1] and "top-level keys" in lines[1]


def test_every_command_warns_and_doctor_reports_it(tmp_path: Path) -> None:
    env = config_file(tmp_path, "acess_token_ttl = 60\n")
    result = runner.invoke(app, ["config", "--json"], env=env)
    assert result.exit_code == 0
    assert "keyturn: warning:" in result.stderr and "did you mean access_token_ttl?" in result.stderr
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    checks = json.loads(runner.invoke(app, ["doctor", "--json"], env=env).stdout)["checks"]
    assert any("did you mean access_token_ttl?" in c["detail"] and c["status"] == "warn" for c in checks)


def test_config_names_the_master_key_file_as_the_source(tmp_path: Path) -> None:
    env = {"KEYTURN_DATABASE_URL": f"sqlite:///{tmp_path}/k.db"}
    rows = {r["name"]: r for r in json.loads(runner.invoke(app, ["config", "--json"], env=env).stdout)}
    assert rows["master_key"]["source"] == f"generated into {tmp_path / 'k.db.master-key'} on the first start"
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    rows = {r["name"]: r for r in json.loads(runner.invoke(app, ["config", "--json"], env=env).stdout)}
    assert rows["master_key"]["source"] == f"key file {tmp_path / 'k.db.master-key'}"
    assert rows["master_key"]["value"] == "********"
    table = runner.invoke(app, ["config"], env=env).stdout
    line = next(x for x in table.splitlines() if x.startswith("KEYTURN_MASTER_KEY "))
    assert "default" not in line and "key file" in line
