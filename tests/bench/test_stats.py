"""bench.stats: the one place every same-run ratio of the benchmark is made."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bench import stats


def test_interleave_alternates_arms_and_their_order_and_groups_by_arm() -> None:
    order: list[str] = []

    def arm(name: str) -> Callable[[int], str]:
        def run(i: int) -> str:
            order.append(f"{name}{i}")
            return f"{name}{i}"
        return run

    got = stats.interleave(3, {"A": arm("A"), "B": arm("B")})
    assert order == ["A0", "B0", "B1", "A1", "A2", "B2"]
    assert got == {"A": ["A0", "A1", "A2"], "B": ["B0", "B1", "B2"]}


def test_ratio_is_per_pass_then_median_with_min_max() -> None:
    # per pass: 2/4, 3/3, 8/2 -> 0.5, 1.0, 4.0; a ratio of medians would say 3/3 = 1.0 too,
    # but the spread must come from the per-pass values
    sp = stats.ratio([2.0, 3.0, 8.0], [4.0, 3.0, 2.0])
    assert sp.values == (0.5, 1.0, 4.0)
    assert (sp.median, sp.lo, sp.hi) == (1.0, 0.5, 4.0)
    assert sp.text() == "1.00 (0.50–4.00)"


def test_ratio_refuses_unpaired_passes_and_zero() -> None:
    with pytest.raises(ValueError):
        stats.ratio([1.0, 2.0], [1.0])
    with pytest.raises(ValueError):
        stats.ratio([1.0], [0.0])
    with pytest.raises(ValueError):
        stats.spread([])


@pytest.mark.parametrize(
    ("values", "target", "at_most", "expected"),
    [
        ([0.4, 0.6, 0.45], 0.5, True, "MET"),  # median 0.45
        ([0.4, 0.6, 0.55], 0.5, True, "MISSED"),  # median 0.55 although one pass is under
        ([12.0, 9.0, 11.0], 10.0, False, "MET"),
        ([8.0, 9.0, 11.0], 10.0, False, "MISSED"),
    ],
)
def test_verdict_judges_the_median(values: list[float], target: float, at_most: bool, expected: str) -> None:
    assert stats.verdict(stats.spread(values), target, at_most=at_most) == expected


def test_unmeasured_is_not_a_pass() -> None:
    assert stats.verdict(None, 1.0) == "n/a"
    assert stats.from_dict(None) is None
    assert stats.from_dict({"values": []}) is None


def test_round_trip_through_results_json() -> None:
    sp = stats.spread([3.0, 1.0, 2.0])
    back = stats.from_dict(sp.as_dict())
    assert back == sp
