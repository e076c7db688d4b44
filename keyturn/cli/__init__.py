"""``keyturn``: serve, manage users and sessions, migrate.

Importing this package needs nothing of the server: the command tree (Typer,
pydantic, the stores) is loaded when ``main`` runs, so a light install
(``pip install keyturn``) says in one line what to install instead of a
traceback.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer

SERVER_EXTRA = "keyturn serve needs the server extra: pip install 'keyturn[server]'"
# What ``pip install 'keyturn[server]'`` adds (import names).
SERVER_MODULES = frozenset({
    "sqlalchemy", "alembic", "aiosqlite", "asyncpg", "asyncmy", "redis", "argon2", "bcrypt", "starlette", "uvicorn",
    "pydantic", "pydantic_settings", "typer", "prometheus_client", "swagger_ui_bundle",
})


def _app() -> typer.Typer:
    from keyturn.cli.commands import app

    return app


def main() -> None:
    try:
        app = _app()
    except ImportError as exc:
        if (exc.name or "").split(".")[0] not in SERVER_MODULES:
            raise
        print(SERVER_EXTRA, file=sys.stderr)
        raise SystemExit(1) from None
    app()


def __getattr__(name: str) -> typer.Typer:
    """``keyturn.cli.app``: the Typer app, loaded on first use."""
    if name == "app":
        return _app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["app", "main"]
