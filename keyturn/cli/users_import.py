"""``keyturn users import FILE``: users with the password hashes they have
(docs/import.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from keyturn.cli.common import fail, users_app, with_runtime


@users_app.command("import")
def users_import(
    file: str = typer.Argument(..., help="JSON lines, one user each; - reads stdin."),
    skip_existing: bool = typer.Option(
        False, "--skip-existing",
        help="Leave users that already exist as they are, whatever their hash (never overwritten).",
    ),
) -> None:
    r"""Import users with the password hashes they already have, all or nothing.

    Each line: {"username": ..., "password_hash": ..., "disabled": false}. Accepted hashes: bcrypt (also Spring
    {bcrypt}), argon2, Werkzeug pbkdf2/scrypt, Django pbkdf2/argon2/bcrypt/scrypt; each is replaced by today's
    argon2 at the user's first login. A bad line is named and nothing is imported; a user already there with
    the same hash is skipped, so running the same file twice is harmless.

    Examples:

      keyturn users import users.jsonl

      mysql -N -e "SELECT JSON_OBJECT('username', name, 'password_hash', pw) FROM users" | keyturn users import -
    """
    from keyturn.errors import BadRequest
    from keyturn.service.user_import import import_users, parse_lines

    try:
        if file == "-":
            lines = sys.stdin.buffer.read().splitlines() if sys.stdin is not None else []
        else:
            lines = Path(file).read_bytes().splitlines()
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}", 1)
        raise  # unreachable
    try:
        records = parse_lines(lines)  # every line checked before the store is opened
    except BadRequest as exc:
        fail(exc.description, 1)
        raise  # unreachable

    async def run(rt: Any) -> Any:
        return await import_users(rt.stores.users, records, now=rt.clock.now(), skip_existing=skip_existing)

    result = with_runtime(run, create=True)
    typer.echo(f"imported {result.imported}, skipped {result.skipped} (already there)")
