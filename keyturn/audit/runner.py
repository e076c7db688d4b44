"""Run an audit: refuse a target that is not ours before any request, prove
the credentials with one login, run the chosen checks one after another,
turn each outcome into a redacted report row, and end every session the
audit made."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from keyturn.audit.checks import Check
from keyturn.audit.context import BaselineFailed, Context
from keyturn.audit.probe import BudgetExhausted, NotAllowed, Probe, is_loopback
from keyturn.audit.profile import Profile
from keyturn.audit.result import Outcome, Result, Status, failed, skipped
from keyturn.audit.target import LoginFailed, Target

Progress = Callable[[int, int, Check, "Result | None"], None]


@dataclass(frozen=True)
class Report:
    target: str
    profile: str
    results: tuple[Result, ...]
    requests: int
    seconds: float
    sessions_opened: int
    sessions_ended: int

    def counts(self) -> dict[str, int]:
        return {s.value: sum(1 for r in self.results if r.status is s) for s in Status}

    @property
    def failed(self) -> bool:
        return any(r.status is Status.FAIL for r in self.results)

    def summary(self) -> str:
        c = self.counts()
        return (f"{len(self.results)} checks: {c['PASS']} PASS, {c['FAIL']} FAIL, {c['WARN']} WARN, {c['SKIP']} SKIP"
                f" — {self.requests} requests in {self.seconds:.1f} s")

    def as_dict(self) -> dict[str, object]:
        return {
            "target": self.target, "profile": self.profile, "summary": self.counts(), "failed": self.failed,
            "requests": self.requests, "seconds": round(self.seconds, 2),
            "sessions": {"opened": self.sessions_opened, "ended": self.sessions_ended},
            "results": [r.as_dict() for r in self.results],
        }


async def _outcome(check: Check, ctx: Context) -> Outcome:
    try:
        return await check.run(ctx)
    except BudgetExhausted as exc:
        return skipped(f"not run: {exc}")
    except BaselineFailed as exc:
        return skipped(f"not run: {exc}")
    except LoginFailed as exc:
        return skipped(f"not run: the test account could not log in ({exc})")
    except NotAllowed as exc:
        return skipped(f"not run: {exc}")
    except httpx.HTTPError as exc:
        return failed(f"the target dropped the request: {type(exc).__name__}: {exc}")


async def run_checks(ctx: Context, checks: list[Check], progress: Progress | None = None) -> Report:
    results = []
    for index, check in enumerate(checks, 1):
        if progress is not None:
            progress(index, len(checks), check, None)
        outcome = await _outcome(check, ctx)
        result = Result(check.id, check.title, check.family, outcome.status, check.severity,
                        ctx.probe.redact(outcome.evidence), check.reference, check.attack)
        results.append(result)
        if progress is not None:
            progress(index, len(checks), check, result)
    await ctx.target.end_sessions()
    probe = ctx.probe
    ended = sum(1 for s in ctx.target.sessions if s.ended)
    return Report(probe.base_url.rstrip("/"), ctx.target.profile.name, tuple(results), probe.used, probe.elapsed(),
                  ctx.target.logins, ended)


class UsageError(Exception):
    """Exit 2: the audit cannot start as asked."""


def check_url(url: str, own: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{url!r} is not an http(s) URL with a host")
    if not own and not is_loopback(parts.hostname):
        raise UsageError(f"{parts.hostname} is not a loopback address: audit only systems you own, "
                         "and say so with --i-own-this-system")


def progress_line(index: int, total: int, check: Check, result: Result | None) -> None:
    if result is None:
        sys.stderr.write(f"[{index:>2}/{total}] {check.id} … ")
    else:
        sys.stderr.write(f"{result.status.value}\n")
    sys.stderr.flush()


def unreachable_reason(exc: httpx.HTTPError) -> str:
    """What a person reads: "connection refused", not ``ConnectError``."""
    text = str(exc) or type(exc).__name__
    chain: list[BaseException] = []
    item: BaseException | None = exc
    while item is not None and len(chain) < 10:
        chain.append(item)
        item = item.__cause__ or item.__context__
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return "connection refused (nothing listens there: is the service up, and the port right?)"
    if isinstance(exc, httpx.ConnectError):
        if "name or service not known" in text.lower() or "nodename nor servname" in text.lower():
            return "unknown host"
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    return f"{type(exc).__name__}: {text.splitlines()[0][:200]}"


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
            raise UsageError(f"cannot reach {url}: {unreachable_reason(exc)}") from None
        except NotAllowed as exc:
            raise UsageError(str(exc)) from None
        except BudgetExhausted:
            raise UsageError(f"--max-requests {max_requests} is too small to log in and out even once") from None
        return await run_checks(ctx, checks, None if quiet else progress_line)
    finally:
        await probe.close()
