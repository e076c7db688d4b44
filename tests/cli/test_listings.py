"""The CLI reads well: help paragraphs as sentences, examples as written,
listings as tables with headers (people by name) and ``--json`` on each."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from keyturn.cli import app
from keyturn.service.masterkey import new_master_key
from tests.conftest import FAST_ARGON2_ENV

runner = CliRunner()
PASSWORD = "correct horse battery staple"
LISTINGS = [["users", "list"], ["sessions", "list"], ["keys", "list"], ["clients", "list"], ["events", "tail"]]


def _commands() -> dict[str, Any]:
    found: dict[str, Any] = {}

    def walk(cmd: Any, path: list[str]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, [*path, name])
        else:
            found[" ".join(path)] = cmd

    walk(get_command(app), [])
    return found


@pytest.mark.parametrize("command", sorted(_commands()))
def test_help_keeps_sentences_whole_and_examples_as_written(command: str) -> None:
    doc = inspect.getdoc(_commands()[command].callback) or ""
    result = runner.invoke(app, [*command.split(), "--help"], env={"COLUMNS": "400", "TERMINAL_WIDTH": "400"})
    assert result.exit_code == 0, result.output
    shown = [line.strip() for line in result.output.splitlines()]
    for paragraph in doc.split("\n\n"):
        lines = paragraph.splitlines()
        if all(line.startswith(" ") for line in lines):  # an example: each line exactly as written
            for line in lines:
                assert line.strip() in shown, f"{line.strip()!r} not in {command} --help"
        else:  # prose: one paragraph, one line (the terminal wraps it, not the source)
            assert " ".join(x.strip() for x in lines) in shown, f"{paragraph!r} broken in {command} --help"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"KEYTURN_DATABASE_URL": f"sqlite:///{tmp_path}/k.db", "KEYTURN_MASTER_KEY": new_master_key(),
            **FAST_ARGON2_ENV}


@pytest.fixture
def populated(env: dict[str, str]) -> dict[str, str]:
    """A database with a user, a live session, a client and an event."""
    import asyncio

    from keyturn.config import load_settings
    from keyturn.service.wiring import build_runtime

    assert runner.invoke(app, ["users", "add", "alice", "--password", PASSWORD], env=env).exit_code == 0
    assert runner.invoke(app, ["clients", "add", "billing"], env=env).exit_code == 0
    settings = load_settings(database_url=env["KEYTURN_DATABASE_URL"], master_key=env["KEYTURN_MASTER_KEY"],
                             argon2_time_cost=1, argon2_memory_cost=1024, argon2_parallelism=1)

    async def login() -> None:
        rt = build_runtime(settings)
        await rt.start()
        try:
            await rt.service.login("alice", PASSWORD, ip="203.0.113.9", user_agent="curl/8")
        finally:
            await rt.close()

    asyncio.run(login())
    return env


@pytest.mark.parametrize("command", LISTINGS, ids=" ".join)
def test_every_listing_is_a_table_with_a_header_and_has_json(populated: dict[str, str], command: list[str]) -> None:
    table = runner.invoke(app, command, env=populated)
    assert table.exit_code == 0, table.output
    header = table.stdout.splitlines()[0]
    assert header == header.upper() and len(header.split()) >= 3
    as_json = runner.invoke(app, [*command, "--json"], env=populated)
    assert as_json.exit_code == 0, as_json.output
    lines = as_json.stdout.strip()
    rows = json.loads(lines) if lines.startswith("[") else [json.loads(x) for x in lines.splitlines()]
    assert rows and all(isinstance(r, dict) for r in rows)


def test_sessions_list_names_the_user(populated: dict[str, str]) -> None:
    lines = runner.invoke(app, ["sessions", "list"], env=populated).stdout.splitlines()
    assert lines[0].split() == ["ID", "USERNAME", "CREATED", "LAST_USED", "IP", "USER_AGENT"]
    assert lines[1].split()[1] == "alice" and "203.0.113.9" in lines[1]
    (row,) = json.loads(runner.invoke(app, ["sessions", "list", "--json"], env=populated).stdout)
    assert row["username"] == "alice" and row["user_id"]


def test_clients_and_keys_tables(populated: dict[str, str]) -> None:
    clients = runner.invoke(app, ["clients", "list"], env=populated).stdout.splitlines()
    assert clients[0].split() == ["ID", "NAME", "CREATED", "STATUS", "SCOPE"]
    assert clients[1].split()[1:] == ["billing", clients[1].split()[2], "active", "-"]
    keys = runner.invoke(app, ["keys", "list"], env=populated).stdout.splitlines()
    assert keys[0].split() == ["KID", "ALG", "CREATED", "STATE", "RETIRED"]
    assert keys[1].split()[1] == "EdDSA" and keys[1].split()[3] == "active"


def test_events_tail_shows_iso_times(populated: dict[str, str]) -> None:
    lines = runner.invoke(app, ["events", "tail"], env=populated).stdout.splitlines()
    login = [line for line in lines if " login " in f" {line} "]
    assert login and login[0].split()[0].endswith("Z") and "T" in login[0].split()[0]
    assert login[0].split()[2] == "alice"
