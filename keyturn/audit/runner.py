"""Run the chosen checks one after another against one target, turn each
outcome into a redacted report row, and end every session the audit made."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx

from keyturn.audit.checks import Check
from keyturn.audit.context import BaselineFailed, Context
from keyturn.audit.probe import BudgetExhausted, NotAllowed
from keyturn.audit.result import Outcome, Result, Status, failed, skipped
from keyturn.audit.target import LoginFailed

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
                        ctx.probe.redact(outcome.evidence), check.reference)
        results.append(result)
        if progress is not None:
            progress(index, len(checks), check, result)
    await ctx.target.end_sessions()
    probe = ctx.probe
    ended = sum(1 for s in ctx.target.sessions if s.ended)
    return Report(probe.base_url.rstrip("/"), ctx.target.profile.name, tuple(results), probe.used, probe.elapsed(),
                  ctx.target.logins, ended)
