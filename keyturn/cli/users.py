"""``keyturn users add|list|disable``."""

from __future__ import annotations

import getpass
import sys
from typing import Any

import typer

from keyturn.cli import ops
from keyturn.cli.common import users_app, with_runtime


@users_app.command("add")
def users_add(
    name: str,
    password: str = typer.Option(None, help="Password (prompted for when omitted)."),
) -> None:
    """Create a user; prints the new user id.

    Examples:

      keyturn users add alice            (prompts for the password)

      printf '%s\n' "$PW" | keyturn users add alice
    """
    if password is None:
        password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")

    async def run(rt: Any) -> str:
        user = await rt.service.create_user(name, password)
        return str(user.id)

    typer.echo(with_runtime(run))


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
    if json_out:
        ops.print_json(rows)
    else:
        ops.print_table(rows, ["id", "username", "status", "created"], empty="no users")


@users_app.command("disable")
def users_disable(name: str) -> None:
    """Disable a user and end all of their sessions.

    Example: keyturn users disable alice
    """

    async def run(rt: Any) -> Any:
        return await rt.service.disable_user(name)

    user = with_runtime(run)
    typer.echo(f"disabled {user.username}")
