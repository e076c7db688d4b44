"""``keyturn audit URL``: the typer command. Exit 0 when nothing failed,
1 when a check failed, 2 on a usage error (bad URL, unknown profile or
check, missing or wrong credentials, a non-loopback target without
``--i-own-this-system``) — and on a usage error no request is made."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import typer

from keyturn.audit.checks import CATALOGUE, Check, select
from keyturn.audit.context import Context
from keyturn.audit.probe import BudgetExhausted, NotAllowed, Probe, is_loopback
from keyturn.audit.profile import BUILTIN, Profile, ProfileError, load_profile
from keyturn.audit.report import to_html, to_json, to_text
from keyturn.audit.result import Result
from keyturn.audit.runner import Report, run_checks
from keyturn.audit.target import LoginFailed, Target


class UsageError(Exception):
    """Exit 2: the audit cannot start as asked."""


def _check_url(url: str, own: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{url!r} is not an http(s) URL with a host")
    if not own and not is_loopback(parts.hostname):
        raise UsageError(f"{parts.hostname} is not a loopback address: audit only systems you own, "
                         "and say so with --i-own-this-system")


def _progress(index: int, total: int, check: Check, result: Result | None) -> None:
    if result is None:
        sys.stderr.write(f"[{index:>2}/{total}] {check.id} … ")
    else:
        sys.stderr.write(f"{result.status.value}\n")
    sys.stderr.flush()


async def audit_target(
    url: str, profile: Profile, username: str, password: str, checks: list[Check], *,
    max_requests: int, seconds: float, concurrency: int, wrong_passwords: int, own: bool, quiet: bool,
) -> Report:
    """Log in once to prove the credentials, then run ``checks``."""
    probe = Probe(url, max_requests=max_requests, seconds=seconds, allow_remote=own, concurrency=concurrency)
    try:
        ctx = Context(Target(profile, probe, username, password), concurrency, wrong_passwords)
        try:
            await ctx.sample()
        except LoginFailed as exc:
            raise UsageError(f"the test account cannot log in: {exc} (check --username/--password and --profile)") from None
        except httpx.HTTPError as exc:
            raise UsageError(f"cannot reach {url}: {type(exc).__name__}") from None
        except NotAllowed as exc:
            raise UsageError(str(exc)) from None
        except BudgetExhausted:
            raise UsageError(f"--max-requests {max_requests} is too small to log in and out even once") from None
        return await run_checks(ctx, checks, None if quiet else _progress)
    finally:
        await probe.close()


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

      keyturn audit http://127.0.0.1:8080 -p docs/audit-seed.toml -u auditor --json

      keyturn audit https://staging.example.com -u auditor --i-own-this-system --html audit.html
    """
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
        _check_url(url, own)
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


def _usage(message: str) -> None:
    typer.echo(f"keyturn audit: error: {message}", err=True)
    raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    app.command("audit")(audit)
