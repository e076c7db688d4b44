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


# --- claims and scope (docs/adopt.md) -----------------------------------------

def _user_view(user: Any) -> dict[str, Any]:
    from keyturn.clock import iso
    from keyturn.core.claims import is_external

    return {
        "id": user.id, "username": None if is_external(user.username) else user.username,
        "kind": "external" if is_external(user.username) else "password",
        "status": "disabled" if user.disabled else "active", "created": iso(user.created_at),
        "claims": dict(user.claims), "scope": user.scope,
    }


@users_app.command("set")
def users_set(
    name: str = typer.Argument(..., help="Username, or the id of a user (an external subject is named by its id)."),
    claims: str = typer.Option(None, "--claims", help="A JSON object: every access token of the user carries it."),
    scope: str = typer.Option(None, "--scope", help="Space-separated scope ('' for none)."),
) -> None:
    """Set a user's claims and/or scope; each session carries them from its
    next refresh on (within one access-token lifetime).

    Examples:

      keyturn users set alice --claims '{"roles": ["admin"], "tenant": "acme"}'

      keyturn users set alice --scope 'read write'
    """
    import json

    if claims is None and scope is None:
        fail("nothing to set: give --claims and/or --scope")
    parsed: Any = None
    if claims is not None:
        try:
            parsed = json.loads(claims)
        except ValueError as exc:
            fail(f"--claims is not valid JSON: {exc}")
        if not isinstance(parsed, dict):
            fail("--claims must be a JSON object, e.g. '{\"roles\": [\"admin\"]}'")

    async def run(rt: Any) -> Any:
        return await rt.service.set_user_claims(name, claims=parsed, scope=... if scope is None else scope)

    user = with_runtime(run)
    view = _user_view(user)
    typer.echo(f"set {view['username'] or view['id']}: claims {json.dumps(view['claims'])}, scope {view['scope'] or '(none)'}")


@users_app.command("show")
def users_show(
    name: str = typer.Argument(..., help="Username, or the id of a user."),
    json_out: bool = typer.Option(False, "--json", help=ops.JSON_HELP),
) -> None:
    """Show one user: id, status, claims and scope.

    Examples:

      keyturn users show alice

      keyturn users show alice --json | jq .claims
    """
    import json

    async def run(rt: Any) -> Any:
        return await rt.service.find_user(name)

    view = _user_view(with_runtime(run))
    if json_out:
        ops.print_json(view)
        return
    for key in ("id", "username", "kind", "status", "created"):
        typer.echo(f"{key + ':':10}{view[key] if view[key] is not None else '-'}")
    typer.echo(f"{'claims:':10}{json.dumps(view['claims'], ensure_ascii=False)}")
    typer.echo(f"{'scope:':10}{view['scope'] or '-'}")
