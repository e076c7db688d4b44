"""How far a store's clock is from ours, measured the NTP way: read the
store's clock between two readings of ours, keep the sample with the
shortest round trip (the offset is then known to within half of it).

Deadlines that a store checks by its own clock (the rotate compare-and-set)
are sent in the store's time: our clock plus the offset. An offset smaller
than its own uncertainty is indistinguishable from none and is read as 0.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ClockReading:
    offset: float  # the store's clock minus ours, seconds
    uncertainty: float  # half the best sample's round trip, seconds


async def read_offset(
    server_time: Callable[[], Awaitable[float]], wall: Callable[[], float], *, samples: int = 3,
    resolution: float = 0.0,
) -> ClockReading:
    """``server_time``: the store's clock (a bounded store call), which ticks
    every ``resolution`` seconds; ``wall``: ours, as the engine sends its
    deadlines."""
    best: tuple[float, float] | None = None
    for _ in range(samples):
        before = wall()
        remote = await server_time()
        half = (wall() - before) / 2
        if best is None or half < best[1]:
            best = (remote - (before + half), half)
    assert best is not None
    offset, uncertainty = best[0], best[1] + resolution
    return ClockReading(0.0 if abs(offset) <= uncertainty else offset, uncertainty)
