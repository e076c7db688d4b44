"""Same-run comparisons: interleaved passes and the median of per-pass values.

Every ratio the bench reports comes from here.  Arms are run interleaved,
A, B, then B, A, … so that slow drift on a shared machine (other work, thermal, page cache)
lands on both sides of each pass; a ratio is computed per pass and reported
as the median with the min–max spread, never as one shot."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

MIN_PASSES = 3


@dataclass(frozen=True)
class Spread:
    """The median of per-pass values, with their min and max."""

    median: float
    lo: float
    hi: float
    values: tuple[float, ...]

    def as_dict(self) -> dict[str, object]:
        return {"median": self.median, "lo": self.lo, "hi": self.hi, "values": list(self.values)}

    def text(self, fmt: str = "{:.2f}") -> str:
        """``0.71 (0.66–0.80)``: median, then the spread of the passes."""
        return f"{fmt.format(self.median)} ({fmt.format(self.lo)}–{fmt.format(self.hi)})"


def spread(values: Iterable[float]) -> Spread:
    """Median and min–max of per-pass values (at least one)."""
    vals = tuple(float(v) for v in values)
    if not vals:
        raise ValueError("spread of no values")
    return Spread(statistics.median(vals), min(vals), max(vals), vals)


def ratio(num: Sequence[float], den: Sequence[float]) -> Spread:
    """Per-pass ``num[i] / den[i]``, summarised; pass i of both must come
    from the same interleaved pass."""
    if len(num) != len(den):
        raise ValueError(f"passes differ: {len(num)} vs {len(den)}")
    if any(d == 0 for d in den):
        raise ValueError("a pass has a zero denominator")
    return spread(n / d for n, d in zip(num, den))


def from_dict(d: Mapping[str, object] | None) -> Spread | None:
    """Back from ``Spread.as_dict`` (results JSON); None stays None."""
    if not d:
        return None
    vals = d.get("values")
    if not isinstance(vals, list) or not vals:
        return None
    return spread(float(v) for v in vals)


def interleave(passes: int, arms: Mapping[str, Callable[[int], T]]) -> dict[str, list[T]]:
    """Run every arm once per pass, ``passes`` times, the order reversed on
    every other pass so that no arm always goes first (A B, B A, A B, …:
    an order effect such as a store warming up cancels instead of biasing
    one side); returns each arm's results by pass."""
    if passes < 1:
        raise ValueError("passes must be >= 1")
    out: dict[str, list[T]] = {name: [] for name in arms}
    names = list(arms)
    for i in range(passes):
        for name in (names if i % 2 == 0 else names[::-1]):
            out[name].append(arms[name](i))
    return out


def verdict(value: Spread | float | None, target: float, *, at_most: bool = True) -> str:
    """MET or MISSED on the median (n/a when it could not be measured)."""
    if value is None:
        return "n/a"
    v = value.median if isinstance(value, Spread) else value
    return "MET" if (v <= target if at_most else v >= target) else "MISSED"
