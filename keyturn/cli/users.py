"""``keyturn users add|list|disable``."""

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
