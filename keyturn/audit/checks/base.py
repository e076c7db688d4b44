"""A check: a small async function with a docstring naming the attack, and
the facts the report shows beside its verdict."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from keyturn.audit.context import Context
from keyturn.audit.result import Outcome, Severity

CheckFn = Callable[[Context], Awaitable[Outcome]]


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    family: str
    severity: Severity
    reference: str
    run: CheckFn
    default: bool = True

    @property
    def attack(self) -> str:
        """The first line of the function's docstring: the attack it tries."""
        return (self.run.__doc__ or self.title).strip().splitlines()[0]


def registry(family: str) -> tuple[list[Check], Callable[..., Callable[[CheckFn], CheckFn]]]:
    """A family's list of checks and the decorator that fills it."""
    checks: list[Check] = []

    def check(id: str, title: str, severity: Severity, reference: str, *, default: bool = True) -> Callable[[CheckFn], CheckFn]:
        def add(fn: CheckFn) -> CheckFn:
            checks.append(Check(id, title, family, severity, reference, fn, default))
            return fn

        return add

    return checks, check


def accepted(response: httpx.Response) -> bool:
    """The target took what was presented (any 2xx)."""
    return 200 <= response.status_code < 300


TRACE_MARKERS = (
    "Traceback (most recent call last)", 'File "/', "\tat java.", "    at java.", "Exception in thread",
    "at System.", "NullReferenceException", "<b>Fatal error</b>", "<b>Warning</b>:", "stack trace", "Stack trace",
    "node_modules/", "goroutine ",
)


def leaks_trace(response: httpx.Response) -> bool:
    """The answer shows a stack trace or internal error text."""
    text = response.text[:20000]
    return any(marker in text for marker in TRACE_MARKERS)
