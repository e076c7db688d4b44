"""``keyturn audit URL``: the typer command. Exit 0 when nothing failed,
1 when a check failed, 2 on a usage error (bad URL, unknown profile or
check, missing or wrong credentials, a non-loopback target without
``--i-own-this-system``) — and on a usage error no request is made.

The audit itself is imported when the command runs, so the rest of the
CLI (``keyturn serve`` above all) does not pay for it at start."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import NoReturn

import typer

from keyturn.audit.profile import BUILTIN


def audit(
    url: str = typer.Argument(None, help="Base URL of the deployment, e.g. http://127.0.0.1:8000", show_default=False),
    profile: str = typer.Option("keyturn", "--profile", "-p",
                                help=f"Built-in profile ({', '.join(BUILTIN)}) or a TOML file describing the API."),
    username: str = typer.Option(None, "--username", "-u", envvar="KEYTURN_AUDIT_USERNAME",
                                 help="Test account (env KEYTURN_AUDIT_USERNAME)."),
    password: str = typer.Option(None, "--password", envvar="KEYTURN_AUDIT_PASSWORD",
                                 help="Its password (env KEYTURN_AUDIT_PASSWORD; preferred over the flag)."),
    check: list[str] = typer.Option([], "--check", "-c", help="Run only this check or family (repeatable)."),
    skip: list[str] = typer.Option([], "--skip", help="Leave out this check or family (repeatable)."),
    throttling: bool = typer.Option(False, "--throttling",
                                    help="Also send wrong passwords until 429 (may lock the test account)."),
    wrong_passwords: int = typer.Option(15, "--wrong-passwords", min=1, max=200,
                                        help="At most this many wrong passwords for the throttling check."),
    concurrency: int = typer.Option(16, "--concurrency", min=2, max=64, help="Parallel refreshes in the race check."),
    max_requests: int = typer.Option(300, "--max-requests", min=1, help="Request budget for the whole audit."),
    seconds: float = typer.Option(60.0, "--time-budget", min=1.0, max=3600.0, help="Time budget, seconds."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    html_file: Path = typer.Option(None, "--html", help="Also write a self-contained HTML report here."),
    own: bool = typer.Option(False, "--i-own-this-system", help="Allow a target that is not on loopback."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress on stderr."),
    list_checks: bool = typer.Option(False, "--list", help="List the checks and exit."),
) -> None:
    """Check a refresh-token deployment (keyturn or any other) against the attack catalogue.

    Logs the test account in several times, runs bounded checks (rotation,
    reuse detection, the refresh race, logout, JWT forgery, CORS, cookies,
    malformed input), ends every session it made, and prints one row per
    check. Exit 0 when nothing failed, 1 when something did, 2 on usage errors.

    Examples:

      KEYTURN_AUDIT_PASSWORD=... keyturn audit http://127.0.0.1:8000 -u auditor

      keyturn audit http://127.0.0.1:8080 -p examples/audit-seed.toml -u auditor --json

      keyturn audit https://staging.example.com -u auditor --i-own-this-system --html audit.html
    """
    from keyturn.audit.checks import CATALOGUE, select
    from keyturn.audit.profile import ProfileError, load_profile
    from keyturn.audit.report import to_html, to_json, to_text
    from keyturn.audit.runner import UsageError, audit_target, check_url

    if list_checks:
        for c in CATALOGUE:
            typer.echo(f"{c.id:<24} {c.family:<13} {'' if c.default else '(on request) '}{c.title}")
        raise typer.Exit(0)
    if not url:
        _usage("the target URL is required, e.g. keyturn audit http://127.0.0.1:8000")
    try:
        names = list(check)
        if throttling:
            names = (names or [c.id for c in CATALOGUE if c.default]) + ["throttling"]
        chosen = select(names or None, list(skip))
        if not chosen:
            raise UsageError("no check selected")
        target_profile = load_profile(profile)
        check_url(url, own)
        if not username or not password:
            raise UsageError("the test account is needed: --username and --password "
                             "(or KEYTURN_AUDIT_USERNAME / KEYTURN_AUDIT_PASSWORD)")
        report = asyncio.run(audit_target(
            url, target_profile, username, password, chosen, max_requests=max_requests, seconds=seconds,
            concurrency=concurrency, wrong_passwords=wrong_passwords, own=own, quiet=quiet,
        ))
    except KeyError as exc:
        _usage(f"unknown check or family: {exc.args[0]} (see --list)")
    except (ProfileError, UsageError) as exc:
        _usage(str(exc))
    if html_file is not None:
        html_file.write_text(to_html(report), encoding="utf-8")
    typer.echo(to_json(report) if json_out else to_text(report), nl=False)
    if not json_out:
        sys.stderr.write(("" if html_file is None else f"HTML report: {html_file}\n"))
    raise typer.Exit(1 if report.failed else 0)


def _usage(message: str) -> NoReturn:
    typer.echo(f"keyturn audit: error: {message}", err=True)
    raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    app.command("audit")(audit)
