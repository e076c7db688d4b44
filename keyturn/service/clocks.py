"""Our clock against the stores' (docs/operations.md, "Clocks"): each
engine's offset is measured at start and every ``EVERY`` seconds; the
service's time is the session store's (this host's clock plus that offset),
so expiry and the grace window are judged by one clock on every replica, and
the engines send their deadlines in their own time.

A replica whose offset to any store is beyond ``KEYTURN_MAX_CLOCK_OFFSET``
is not ready and answers refreshes 503 ``store_unavailable``: our own clock
never logs anyone out and never turns a retry into theft.
"""

from __future__ import annotations

import logging

from keyturn.clock import Clock
from keyturn.errors import StoreUnavailable
from keyturn.stores.clocks import ClockReading
from keyturn.stores.protocols import Lifecycle

log = logging.getLogger("keyturn")

EVERY = 30.0  # seconds between two measurements


class ClockWatch:
    """The last offset measured to each engine, by the role /readyz names it by."""

    def __init__(self, engines: dict[str, Lifecycle], *, limit: float) -> None:
        self.engines = engines
        self.limit = limit
        self.readings: dict[str, ClockReading] = {}
        self._sessions = "sessions" if "sessions" in engines else "database"

    async def measure(self) -> None:
        """Measure every engine; one that cannot be reached keeps its last
        reading (its outage is /readyz's to report)."""
        for role, engine in self.engines.items():
            try:
                reading = await engine.measure_clock()
            except StoreUnavailable:
                continue
            before = self.readings.get(role)
            self.readings[role] = reading
            if self._beyond(reading) and (before is None or not self._beyond(before)):
                log.error("clock: %s", self.describe(role, reading))

    def offset(self) -> float:
        """The session store's clock minus ours: what the service adds to its time."""
        reading = self.readings.get(self._sessions)
        return 0.0 if reading is None else reading.offset

    def _beyond(self, reading: ClockReading) -> bool:
        return abs(reading.offset) - reading.uncertainty > self.limit

    def describe(self, role: str, reading: ClockReading) -> str:
        store = "session store" if role == "sessions" else "database"
        way = "ahead of" if reading.offset > 0 else "behind"
        return (
            f"the {store}'s clock is {abs(reading.offset):.3f} s (± {reading.uncertainty:.3f}) {way} this "
            f"host's; KEYTURN_MAX_CLOCK_OFFSET is {self.limit:g} s: fix this host's time (NTP)"
        )

    def problems(self) -> dict[str, str]:
        """Engines whose offset is beyond the limit, each with the line an operator reads."""
        return {role: self.describe(role, r) for role, r in self.readings.items() if self._beyond(r)}

    def check(self) -> None:
        """503, never a verdict, while our clock is too far from a store's."""
        if self.problems():
            raise StoreUnavailable()


class StoreClock:
    """``base`` in the session store's time (``base`` plus the measured offset)."""

    def __init__(self, base: Clock, watch: ClockWatch) -> None:
        self.base = base
        self.watch = watch

    def now(self) -> float:
        return self.base.now() + self.watch.offset()
