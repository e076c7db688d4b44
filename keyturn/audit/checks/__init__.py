"""The catalogue, in the order the checks run: reading before refreshing,
refreshing before ending sessions, and the throttling check (which may
lock the test account) last."""

from __future__ import annotations

from keyturn.audit.checks import forgery, logout, race, robustness, rotation, throttling, tokens, transport
from keyturn.audit.checks.base import Check

CATALOGUE: tuple[Check, ...] = tuple(
    tokens.CHECKS + forgery.CHECKS + rotation.CHECKS + race.CHECKS + logout.CHECKS + transport.CHECKS
    + robustness.CHECKS + throttling.CHECKS
)


def select(only: list[str] | None = None, skip: list[str] | None = None) -> list[Check]:
    """The checks asked for: ``only`` names checks or families (default: every
    default check); ``skip`` removes some. Unknown names raise ``KeyError``."""
    names = {c.id for c in CATALOGUE} | {c.family for c in CATALOGUE}
    unknown = [n for n in (only or []) + (skip or []) if n not in names]
    if unknown:
        raise KeyError(", ".join(unknown))
    chosen = [c for c in CATALOGUE if (c.id in only or c.family in only)] if only else [c for c in CATALOGUE if c.default]
    return [c for c in chosen if c.id not in (skip or []) and c.family not in (skip or [])]


__all__ = ["CATALOGUE", "Check", "select"]
