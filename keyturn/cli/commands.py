"""The whole ``keyturn`` command tree: every command joins the apps in
``keyturn.cli.common`` here, in the order ``keyturn --help`` lists them."""

from __future__ import annotations

import inspect

import typer

from keyturn.cli import ops, security
from keyturn.cli.common import app, keys_app

ops.register(app)

from keyturn.cli import serve, sessions, users, users_import  # noqa: E402 - their commands join the apps on import

security.register(app, keys_app)

from keyturn.audit.command import register as register_audit  # noqa: E402

register_audit(app)

def _reflow(doc: str) -> str:
    """Prose paragraphs joined into one line each (the terminal wraps them,
    never the source's line breaks); indented paragraphs (examples) kept as
    written."""
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    out = []
    for para in paragraphs:
        lines = para.splitlines()
        if lines and all(line.startswith(" ") for line in lines):
            out.append(para)
        else:
            out.append(" ".join(line.strip() for line in lines))
    # Typer dedents everything after the first paragraph as one block, which
    # would strip the examples' indent when "Examples:" opens that block; an
    # extra newline makes its first line blank (dropped after the dedent).
    return out[0] + ("\n\n\n" + "\n\n".join(out[1:]) if out[1:] else "")


def _tidy(typer_app: typer.Typer) -> None:
    for command in typer_app.registered_commands:
        doc = command.help or (command.callback.__doc__ if command.callback else None)
        if doc:
            command.help = _reflow(doc)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _tidy(group.typer_instance)


_tidy(app)

__all__ = ["app", "serve", "sessions", "users"]
