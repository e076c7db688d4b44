"""Operations commands: ``keyturn doctor``, ``keyturn config`` and ``keyturn db
upgrade``, plus the table / ``--json`` output the listing commands share."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import typer

from keyturn.cli.common import db_app, settings_or_exit, with_runtime
from keyturn.config import load_settings
from keyturn.errors import KeyturnError

JSON_HELP = "Print JSON (one document) for scripts instead of a table."
_MARK = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL", "skip": "skip"}


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], *, empty: str = "(none)") -> None:
    """Aligned columns with a header; wide cells are cut, never wrapped."""
    if not rows:
        typer.echo(empty)
        return
    cells = [[("-" if row.get(c) is None else str(row.get(c)))[:60] for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    typer.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for r in cells:
        typer.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


async def usernames(rt: Any, user_ids: Iterable[str | None]) -> dict[str, str]:
    """``{user_id: username}`` for the listings, which show people names."""
    found: dict[str, str] = {}
    for user_id in {u for u in user_ids if u}:
        user = await rt.stores.users.user_by_id(user_id)
        if user is not None:
            found[user_id] = user.username
    return found


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


def print_output(rows: Sequence[dict[str, Any]], columns: Sequence[str], *, json_out: bool, empty: str) -> None:
    """A table for people, or with ``--json`` every field as one document."""
    if json_out:
        print_json(list(rows))
    else:
        print_table(rows, columns, empty=empty)


def doctor(json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Check configuration, store reachability and latency, migrations, key
    health and clock sanity, and say what to fix. Read-only.

    Exit status: 0 when nothing failed (warnings allowed), 1 otherwise.

    Examples:

      keyturn doctor

      KEYTURN_DATABASE_URL=postgresql://keyturn@db/keyturn keyturn doctor --json
    """
    from keyturn.cli.doctor import Check, diagnose

    try:
        settings = load_settings()
        checks = asyncio.run(diagnose(settings))
    except KeyturnError as exc:
        checks = [Check("configuration", "fail", exc.description, "fix that setting (see `keyturn config --help`)")]
    if json_out:
        print_json({"ok": all(c.status != "fail" for c in checks), "checks": [c.as_dict() for c in checks]})
    else:
        for c in checks:  # one line per finding, its fix on the same line
            fix = f" -- fix: {c.fix}" if c.fix and c.status in ("warn", "fail") else ""
            typer.echo(f"[{_MARK[c.status]}] {c.name}: {c.detail}{fix}")
    if any(c.status == "fail" for c in checks):
        raise typer.Exit(1)


def config(
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    reference: bool = typer.Option(False, "--reference", help="Write the configuration reference (Markdown) instead."),
    output: Path = typer.Option(Path("-"), "--output", "-o",
                                help="Where --reference writes (default '-': stdout)."),
) -> None:
    """Print the effective settings (environment and KEYTURN_CONFIG_FILE), with secrets masked.

    Masked: the master key, tokens, passwords, anything named secret/key/token/password, and passwords inside URLs.
    --reference prints the configuration reference generated from the installed package (works anywhere).

    Examples:

      keyturn config

      keyturn config --json | jq -r '.[] | select(.source == "env") | .name'

      keyturn config --reference -o docs/configuration.md
    """
    from keyturn.cli.settings_view import effective, reference_markdown

    if reference:
        text = reference_markdown()
        if str(output) == "-":
            typer.echo(text, nl=False)
            return
        try:
            output.write_text(text)
        except OSError as exc:
            typer.echo(f"keyturn: error: --output: cannot write {output.absolute()}: {exc.strerror}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"wrote {output}")
        return
    rows = effective(settings_or_exit())
    if json_out:
        print_json(rows)
    else:
        print_table(rows, ["env", "value", "source"])


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply schema migrations (also done on every start).

    Example: KEYTURN_DATABASE_URL=postgresql://keyturn@db/keyturn keyturn db upgrade
    """

    async def run(rt: Any) -> None:
        return None

    with_runtime(run, create=True)
    typer.echo("database is up to date")


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
    app.command("config")(config)
