"""The ``keyturn`` command groups and what every command shares: reading
the settings, running on a started runtime, and failing in one line.

Every command reads the same settings as the service (``KEYTURN_*``); a bad
setting is one clear line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import typer

from keyturn.config import Settings, load_settings, unknown_variables
from keyturn.errors import ConfigError, KeyturnError

T = TypeVar("T")

# No local variables in a crash report: they would print the settings and the master key.
app = typer.Typer(help="keyturn: rotating refresh tokens and short-lived JWT access tokens.", no_args_is_help=True,
                  pretty_exceptions_show_locals=False)
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


def warn(message: str) -> None:
    typer.echo(f"keyturn: warning: {message}", err=True)


def settings_or_exit() -> Settings:
    """The settings, or one line and exit 2; a ``KEYTURN_*`` variable that is
    no setting (a typo) is a warning naming the closest real one."""
    for line in unknown_variables():
        warn(line)
    try:
        return load_settings()
    except KeyturnError as exc:
        fail(exc.description)
        raise  # unreachable


def require_database(settings: Settings) -> None:
    """Commands that only read say there is no database instead of creating
    an empty one (and a master key beside it) where they happen to run."""
    path = settings.sqlite_path()
    if path is not None and not path.exists():
        fail(f"no database at {path.absolute()} (KEYTURN_DATABASE_URL); run this where the service runs, "
             "or create it with `keyturn db upgrade`", 1)


def with_runtime(fn: Callable[[Any], Awaitable[T]], *, create: bool = False) -> T:
    """Run ``fn(runtime)`` on a started runtime; every failure is one line
    (exit 1): ours by their description, a store's by
    ``keyturn.stores.explain``, anything else by its type and message
    (KEYTURN_LOG_LEVEL=debug shows the traceback)."""
    from keyturn.service.wiring import build_runtime

    settings = settings_or_exit()
    if not create:
        require_database(settings)
    new_files = _files_it_would_create(settings) if create else []

    async def main() -> T:
        rt = build_runtime(settings)
        try:
            await rt.start()
            return await fn(rt)
        finally:
            await rt.close()

    result = run_or_fail(main, settings)
    made = [f for f in new_files if f.exists()]
    if made:
        # A command run in the wrong directory must not quietly start a
        # second deployment: say where, and what to do if that was not meant.
        warn(f"there was no database here, so this created {' and '.join(str(f) for f in made)}; "
             "if the service runs elsewhere, run this there or set KEYTURN_DATABASE_URL (and its master key) "
             "to the service's, and delete these")
    return result


def _files_it_would_create(settings: Settings) -> list[Path]:
    """The SQLite database and its generated master key, where missing."""
    from keyturn.service.masterkey import key_file_for

    db = settings.sqlite_path()
    if db is None or db.exists():
        return []
    key = None if settings.master_key else key_file_for(settings)
    return [p.absolute() for p in (db, key) if p is not None and not p.exists()]


def _quiet_closed_loop(args: threading.ExceptHookArgs) -> None:
    """A driver's worker thread (aiosqlite) may answer a failed connection
    after ``asyncio.run`` closed the loop: the error was already reported in
    one line, so its "Event loop is closed" is noise, not a second failure."""
    if isinstance(args.exc_value, RuntimeError) and str(args.exc_value) == "Event loop is closed":
        return
    threading.__excepthook__(args)


def run_or_fail(main: Callable[[], Coroutine[Any, Any, T]], settings: Settings) -> T:
    """``asyncio.run(main())`` with every failure as one line: exit 2 for a
    setting, 1 for anything else (a store, a missing user)."""
    threading.excepthook = _quiet_closed_loop
    try:
        return asyncio.run(main())
    except ConfigError as exc:  # a setting: the same status as when settings load
        fail(exc.description)
    except KeyturnError as exc:
        fail(exc.description, 1)
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception as exc:
        if settings.log_level.lower() == "debug":
            raise
        fail(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": "), 1)
    raise AssertionError("unreachable")
