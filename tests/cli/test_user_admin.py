"""``keyturn users enable | set-password | delete``: an operator re-enables
a user, resets a password (every session ends, access tokens too), and
deletes a user (the name is free again, the events keep the id)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from typer.testing import CliRunner

from keyturn.cli import app
from keyturn.config import Settings
from keyturn.errors import InvalidCredentials, KeyturnError
from keyturn.service.masterkey import new_master_key
from keyturn.service.wiring import build_runtime
from tests.conftest import FAST_ARGON2_ENV, PASSWORD

runner = CliRunner()
NEW_PASSWORD = "another horse battery staple"
T = TypeVar("T")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = {"KEYTURN_DATABASE_URL": f"sqlite:///{tmp_path}/k.db", "KEYTURN_MASTER_KEY": new_master_key(),
           **FAST_ARGON2_ENV}
    assert runner.invoke(app, ["users", "add", "alice"], env=env, input=PASSWORD + "\n").exit_code == 0
    return env


def on_runtime(env: dict[str, str], fn: Callable[[Any], Awaitable[T]]) -> T:
    async def main() -> T:
        rt = build_runtime(Settings(database_url=env["KEYTURN_DATABASE_URL"], master_key=env["KEYTURN_MASTER_KEY"],
                                    argon2_time_cost=1, argon2_memory_cost=1024, argon2_parallelism=1))
        await rt.start()
        try:
            return await fn(rt)
        finally:
            await rt.close()

    return asyncio.run(main())


def login(env: dict[str, str], password: str = PASSWORD) -> Any:
    return on_runtime(env, lambda rt: rt.service.login("alice", password, ip="192.0.2.1", user_agent="t"))


def outcome(env: dict[str, str], what: Callable[[Any], Awaitable[Any]]) -> str:
    async def run(rt: Any) -> str:
        try:
            await what(rt)
        except KeyturnError as exc:
            return exc.code
        return "ok"

    return on_runtime(env, run)


def test_enable_lets_a_disabled_user_log_in_again(env: dict[str, str]) -> None:
    assert runner.invoke(app, ["users", "disable", "alice"], env=env).exit_code == 0
    with pytest.raises(InvalidCredentials):
        login(env)
    result = runner.invoke(app, ["users", "enable", "Alice"], env=env)
    assert result.exit_code == 0 and result.stdout.strip() == "enabled alice"
    assert login(env).session_id
    missing = runner.invoke(app, ["users", "enable", "nobody"], env=env)
    assert missing.exit_code == 1 and missing.stderr.startswith("keyturn: error: no such user")


def test_set_password_ends_every_session_and_its_access_tokens(env: dict[str, str]) -> None:
    pair = login(env)
    result = runner.invoke(app, ["users", "set-password", "alice"], env=env, input=NEW_PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "1 session(s) ended" in result.stdout
    assert outcome(env, lambda rt: rt.service.check_access(pair.access_token)) == "token_revoked"
    assert outcome(env, lambda rt: rt.service.refresh(pair.refresh_token, ip="192.0.2.1", user_agent="t")) \
        == "session_revoked"
    with pytest.raises(InvalidCredentials):
        login(env, PASSWORD)
    assert login(env, NEW_PASSWORD).session_id
    weak = runner.invoke(app, ["users", "set-password", "alice"], env=env, input="short\n")
    assert weak.exit_code == 1 and weak.stderr.startswith("keyturn: error:")
    empty = runner.invoke(app, ["users", "set-password", "alice"], env=env, input="")
    assert empty.exit_code == 2 and "stdin" in empty.stderr


def test_delete_asks_ends_sessions_frees_the_name_and_events_keep_the_id(env: dict[str, str]) -> None:
    pair = login(env)
    user_id = on_runtime(env, lambda rt: rt.stores.users.user_by_name("alice")).id
    refused = runner.invoke(app, ["users", "delete", "alice"], env=env, input="n\n")
    assert refused.exit_code == 1 and "not deleted" in refused.stderr
    assert login(env).session_id  # still there
    result = runner.invoke(app, ["users", "delete", "alice"], env=env, input="y\n")
    assert result.exit_code == 0, result.output
    assert f"deleted alice (id {user_id}); 2 session(s) ended" in result.stdout
    assert outcome(env, lambda rt: rt.service.check_access(pair.access_token)) == "token_revoked"
    with pytest.raises(InvalidCredentials):
        login(env)
    events = on_runtime(env, lambda rt: rt.stores.events.list_events(user_id=user_id))
    assert {"login", "user_deleted"} <= {e.type for e in events}
    # The name is free: a new alice is another user, with none of the old one's past.
    assert runner.invoke(app, ["users", "add", "alice"], env=env, input=PASSWORD + "\n").exit_code == 0
    assert on_runtime(env, lambda rt: rt.stores.users.user_by_name("alice")).id != user_id
    assert runner.invoke(app, ["users", "delete", "alice", "--yes"], env=env).exit_code == 0
    assert runner.invoke(app, ["users", "delete", "alice", "--yes"], env=env).exit_code == 1


def test_users_add_where_there_is_no_database_says_loudly_what_it_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run in the wrong directory, ``users add`` starts a second deployment
    (a database and a master key): it says so, where, and what to do."""
    monkeypatch.chdir(tmp_path)
    env = {"KEYTURN_DATABASE_URL": "sqlite:///./keyturn.db", **FAST_ARGON2_ENV}
    result = runner.invoke(app, ["users", "add", "alice"], env=env, input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    warning = result.stderr.strip()
    assert warning.startswith("keyturn: warning: there was no database here, so this created ")
    assert str(tmp_path / "keyturn.db") in warning and str(tmp_path / "keyturn.db.master-key") in warning
    assert "if the service runs elsewhere" in warning
    again = runner.invoke(app, ["users", "add", "bob"], env=env, input=PASSWORD + "\n")
    assert again.exit_code == 0 and again.stderr == ""  # said once, when it happened
