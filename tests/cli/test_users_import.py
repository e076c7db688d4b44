"""``keyturn users import``: all or nothing, a bad line named, a second
run harmless, and the imported users log in with the passwords they had."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from typer.testing import CliRunner
from werkzeug.security import generate_password_hash

from keyturn.cli import app
from keyturn.config import Settings
from keyturn.service.masterkey import new_master_key
from keyturn.service.wiring import build_runtime
from tests.conftest import FAST_ARGON2, FAST_ARGON2_ENV, PASSWORD

runner = CliRunner()
BCRYPT = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
PBKDF2 = generate_password_hash(PASSWORD, "pbkdf2:sha256:1000")
SCRYPT = generate_password_hash(PASSWORD, "scrypt:1024:8:1")
DJANGO = "pbkdf2_sha256$1000$c2FsdHNhbHQ$" + "A" * 43 + "="  # shape only: no login with it here


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"KEYTURN_DATABASE_URL": f"sqlite:///{tmp_path}/k.db", "KEYTURN_MASTER_KEY": new_master_key(),
            **FAST_ARGON2_ENV}


def jsonl(*rows: Any) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)


GOOD = [
    {"username": "Alice", "password_hash": "{bcrypt}" + BCRYPT},
    {"username": "bob", "password_hash": PBKDF2},
    {"username": "carol", "password_hash": SCRYPT, "disabled": True},
    {"username": "dave", "password_hash": DJANGO, "disabled": False},
]


def import_file(tmp_path: Path, env: dict[str, str], text: str, *extra: str) -> Any:
    path = tmp_path / "users.jsonl"
    path.write_text(text)
    return runner.invoke(app, ["users", "import", str(path), *extra], env=env)


def usernames(env: dict[str, str]) -> dict[str, str]:
    listed = runner.invoke(app, ["users", "list", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    return {u["username"]: u["status"] for u in json.loads(listed.stdout)}


def login(env: dict[str, str], name: str, password: str) -> str:
    """Log in through a runtime on the same database; the stored hash after."""
    async def run() -> str:
        rt = build_runtime(Settings(database_url=env["KEYTURN_DATABASE_URL"], master_key=env["KEYTURN_MASTER_KEY"],
                                    **FAST_ARGON2))
        await rt.start()
        try:
            await rt.service.login(name, password, ip=None, user_agent=None)
            user = await rt.stores.users.user_by_name(name.casefold())
            assert user is not None
            return user.password_hash
        finally:
            await rt.close()

    return asyncio.run(run())


def test_import_then_log_in_with_the_old_passwords(tmp_path: Path, env: dict[str, str]) -> None:
    result = import_file(tmp_path, env, jsonl(*GOOD))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "imported 4, skipped 0 (already there)"
    assert usernames(env) == {"alice": "active", "bob": "active", "carol": "disabled", "dave": "active"}
    assert login(env, "ALICE", PASSWORD).startswith("$argon2id$")
    assert login(env, "bob", PASSWORD).startswith("$argon2id$")


def test_importing_the_same_file_twice_is_harmless(tmp_path: Path, env: dict[str, str]) -> None:
    assert import_file(tmp_path, env, jsonl(*GOOD)).exit_code == 0
    again = import_file(tmp_path, env, jsonl(*GOOD))
    assert again.exit_code == 0, again.output
    assert again.stdout.strip() == "imported 0, skipped 4 (already there)"
    assert len(usernames(env)) == 4


def test_an_existing_user_with_another_hash_stops_the_import(tmp_path: Path, env: dict[str, str]) -> None:
    assert import_file(tmp_path, env, jsonl(*GOOD)).exit_code == 0
    login(env, "bob", PASSWORD)  # bob's hash is now today's argon2
    rows = [{"username": "erin", "password_hash": BCRYPT}, *GOOD]
    refused = import_file(tmp_path, env, jsonl(*rows))
    assert refused.exit_code == 1
    assert refused.stderr.startswith("keyturn: error: line 3: user 'bob' already exists with another password hash")
    assert "erin" not in usernames(env)
    skipping = import_file(tmp_path, env, jsonl(*rows), "--skip-existing")
    assert skipping.exit_code == 0, skipping.output
    assert skipping.stdout.strip() == "imported 1, skipped 4 (already there)"
    assert login(env, "bob", PASSWORD).startswith("$argon2id$")  # never overwritten


def test_stdin(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["users", "import", "-"], env=env, input=jsonl(*GOOD[:2]))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "imported 2, skipped 0 (already there)"
    assert set(usernames(env)) == {"alice", "bob"}


def test_blank_lines_are_skipped_and_still_counted(tmp_path: Path, env: dict[str, str]) -> None:
    result = import_file(tmp_path, env, "\n" + jsonl(GOOD[0]) + "   \n" + jsonl("{"))
    assert result.exit_code == 1 and result.stderr.startswith("keyturn: error: line 4: ")


# a bad third line (after two good ones) -> words its error must contain
BAD_LINES: dict[str, tuple[str, str]] = {
    "bad JSON": ('{"username": "x", ', "not a JSON object"),
    "not an object": ('["x", "y"]', "not a JSON object"),
    "repeated key": ('{"username": "x", "username": "y", "password_hash": "%s"}' % BCRYPT, "'username' appears twice"),
    "unknown field": (json.dumps({"username": "x", "password_hash": BCRYPT, "role": "admin"}), "unknown field 'role'"),
    "unknown hash format": (json.dumps({"username": "x", "password_hash": "md5$abc"}), "unknown password_hash format"),
    "plain password": (json.dumps({"username": "x", "password_hash": "hunter2"}), "unknown password_hash format"),
    "hash too costly": (json.dumps({"username": "x", "password_hash": "pbkdf2:sha256:900000000$s$" + "ab" * 32}),
                        "iterations 900000000"),
    "hash not a string": (json.dumps({"username": "x", "password_hash": 12}), "password_hash must be a string"),
    "missing hash": (json.dumps({"username": "x"}), "password_hash is missing"),
    "missing username": (json.dumps({"password_hash": BCRYPT}), "username is missing"),
    "empty username": (json.dumps({"username": " ", "password_hash": BCRYPT}), "username must not be empty"),
    "control character": (json.dumps({"username": "a\u0007b", "password_hash": BCRYPT}), "control characters"),
    "username not a string": (json.dumps({"username": 7, "password_hash": BCRYPT}), "username must be a string"),
    "duplicate after normalisation": (json.dumps({"username": "ＡＬＩＣＥ", "password_hash": BCRYPT}),
                                      "username 'alice' is also on line 1"),
    "disabled not a boolean": (json.dumps({"username": "x", "password_hash": BCRYPT, "disabled": "yes"}),
                               "disabled must be true or false"),
    "claims not an object": (json.dumps({"username": "x", "password_hash": BCRYPT, "claims": ["admin"]}),
                             "claims must be a JSON object"),
    "scope not a string": (json.dumps({"username": "x", "password_hash": BCRYPT, "scope": ["read"]}),
                           "scope must be a string"),
    "reserved claim": (json.dumps({"username": "x", "password_hash": BCRYPT, "claims": {"sub": "admin"}}),
                       "'sub' is a claim keyturn sets itself"),
    "scope with a bad character": (json.dumps({"username": "x", "password_hash": BCRYPT, "scope": 'read "x"'}),
                                   "scope"),
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_a_bad_line_is_named_and_nothing_is_imported(tmp_path: Path, env: dict[str, str], case: str) -> None:
    line, words = BAD_LINES[case]
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    result = import_file(tmp_path, env, jsonl(*GOOD[:2], line, GOOD[3]))
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("keyturn: error: line 3: "), result.stderr
    assert words in result.stderr and "nothing was imported" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert usernames(env) == {}


def test_a_line_that_is_not_utf8_is_named(tmp_path: Path, env: dict[str, str]) -> None:
    path = tmp_path / "users.jsonl"
    path.write_bytes(jsonl(GOOD[0]).encode() + b'{"username": "\xff", "password_hash": "x"}\n')
    result = runner.invoke(app, ["users", "import", str(path)], env=env)
    assert result.exit_code == 1 and result.stderr.startswith("keyturn: error: line 2: not UTF-8")


def test_a_missing_file_is_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    result = runner.invoke(app, ["users", "import", str(tmp_path / "nope.jsonl")], env=env)
    assert result.exit_code == 1
    assert result.stderr.startswith("keyturn: error: cannot read ") and "Traceback" not in result.stderr


def test_imported_claims_and_scope_ride_in_the_access_token(tmp_path: Path, env: dict[str, str]) -> None:
    line = {"username": "erin", "password_hash": BCRYPT, "claims": {"roles": ["admin"], "tenant": "t1"},
            "scope": "read write"}
    assert import_file(tmp_path, env, jsonl(line)).exit_code == 0

    async def run() -> dict[str, Any]:
        rt = build_runtime(Settings(database_url=env["KEYTURN_DATABASE_URL"], master_key=env["KEYTURN_MASTER_KEY"],
                                    **FAST_ARGON2))
        await rt.start()
        try:
            pair = await rt.service.login("erin", PASSWORD, ip=None, user_agent=None)
            return (await rt.service.verify_access(pair.access_token)).to_dict()
        finally:
            await rt.close()

    claims = asyncio.run(run())
    assert claims["roles"] == ["admin"] and claims["tenant"] == "t1" and claims["scope"] == "read write"
