"""The ``keyturn`` command groups and what every command shares: reading
the settings, running on a started runtime, and failing in one line.

Every command reads the same settings as the service (``KEYTURN_*``); a bad
setting is one clear line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer

from keyturn.config import Settings, load_settings
from keyturn.errors import KeyturnError

T = TypeVar("T")

app = typer.Typer(help="keyturn: rotating refresh tokens and short-lived JWT access tokens.", no_args_is_help=True)
users_app = typer.Typer(help="Manage users.", no_args_is_help=True)
sessions_app = typer.Typer(help="Inspect and revoke sessions.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
keys_app = typer.Typer(help="Signing keys.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(sessions_app, name="sessions")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"keyturn: error: {message}", err=True)
    raise typer.Exit(code)


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except KeyturnError as exc:
        fail(exc.description)
        raise  # unreachable


def with_runtime(fn: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``fn(runtime)`` on a started runtime, mapping our errors to one line."""
    from keyturn.service.wiring import build_runtime

    settings = settings_or_exit()

    async def main() -> T:
        rt = build_runtime(settings)
        try:
            await rt.start()
            return await fn(rt)
        finally:
            await rt.close()

    try:
        return asyncio.run(main())
    except KeyturnError as exc:
        fail(exc.description, 1)
        raise  # unreachable
