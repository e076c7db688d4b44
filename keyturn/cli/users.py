"""``keyturn users add|list|disable|enable|set-password|delete``."""

from __future__ import annotations

import getpass
import sys
from typing import Any

import typer

from keyturn.cli import ops
from keyturn.cli.common import fail, users_app, with_runtime


@users_app.command("add")
def users_add(
    name: str,
    password: str = typer.Option(None, help="Password (prompted for on a terminal, else read from stdin)."),
) -> None:
    r"""Create a user; prints the new user id. Creates the database if needed.

    Examples:

      keyturn users add alice                          # prompts for the password

      printf '%s\n' "$PW" | keyturn users add alice   # reads it from stdin
    """
    if password is None:
        if sys.stdin is None:
            password = ""
        elif sys.stdin.isatty():
            password = getpass.getpass("password: ")
        else:
            password = sys.stdin.readline().rstrip("\n")
        if not password:
            fail("a password is needed: type it at the prompt on a terminal, pipe it on stdin "
                 "(printf '%s\\n' \"$PW\" | keyturn users add NAME), or pass --password", 2)

    async def run(rt: Any) -> str:
        user = await rt.service.create_user(name, password)
        return str(user.id)

    typer.echo(with_runtime(run, create=True))


@users_app.command("list")
def users_list(json_out: bool = typer.Option(False, "--json", help=ops.JSON_HELP)) -> None:
    """List users.

    Examples:

      keyturn users list

      keyturn users list --json | jq -r '.[].username'
    """
    from keyturn.clock import iso

    async def run(rt: Any) -> list[Any]:
        return list(await rt.stores.users.list_users())

    rows = [
        {"id": u.id, "username": u.username, "status": "disabled" if u.disabled else "active", "created": iso(u.created_at)}
        for u in with_runtime(run)
    ]
    ops.print_output(rows, ["id", "username", "status", "created"], json_out=json_out, empty="no users")


@users_app.command("disable")
def users_disable(name: str) -> None:
    """Disable a user and end all of their sessions.

    Example: keyturn users disable alice
    """

    async def run(rt: Any) -> Any:
        return await rt.service.disable_user(name)

    user = with_runtime(run)
    typer.echo(f"disabled {user.username}")


# --- enable, set-password, delete ---------------------------------------------


def _new_password(command: str) -> str:
    """A password from the prompt on a terminal (asked twice), else the first
    line of stdin, as ``users add`` reads it."""
    if sys.stdin is not None and sys.stdin.isatty():
        password = getpass.getpass("new password: ")
        if password and getpass.getpass("again: ") != password:
            fail("the two passwords differ", 2)
    else:
        password = sys.stdin.readline().rstrip("\n") if sys.stdin is not None else ""
    if not password:
        fail(f"a password is needed: type it at the prompt on a terminal, or pipe it on stdin "
             f"(printf '%s\\n' \"$PW\" | keyturn users {command} NAME)", 2)
    return password


@users_app.command("enable")
def users_enable(name: str) -> None:
    """Enable a disabled user again (they log in anew: their sessions ended when disabled).

    Example: keyturn users enable alice
    """

    async def run(rt: Any) -> Any:
        return await rt.service.enable_user(name)

    typer.echo(f"enabled {with_runtime(run).username}")


@users_app.command("set-password")
def users_set_password(name: str) -> None:
    r"""Set a user's password (an operator's reset) and end all of their
    sessions, access tokens included.

    Examples:

      keyturn users set-password alice                          # prompts twice

      printf '%s\n' "$PW" | keyturn users set-password alice   # reads it from stdin
    """
    password = _new_password("set-password")

    async def run(rt: Any) -> Any:
        return await rt.service.set_password(name, password)

    user, ended = with_runtime(run)
    typer.echo(f"password set for {user.username}; {ended} session(s) ended")


@users_app.command("delete")
def users_delete(
    name: str, yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete a user: their sessions end (access tokens included), the name
    becomes free, and past security events keep the user's id.

    Examples:

      keyturn users delete alice          # asks first

      keyturn users delete alice --yes
    """
    if not yes:
        try:
            confirmed = typer.confirm(f"delete user {name} and end all of their sessions?")
        except typer.Abort:  # no answer (stdin closed)
            confirmed = False
        if not confirmed:
            fail("not deleted: answer y at the prompt, or pass --yes", 1)

    async def run(rt: Any) -> Any:
        return await rt.service.delete_user(name)

    user, ended = with_runtime(run)
    typer.echo(f"deleted {user.username} (id {user.id}); {ended} session(s) ended")
