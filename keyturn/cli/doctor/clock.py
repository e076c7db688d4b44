"""The clocks: one finding per store, this host's clock against the store's
as a replica measures it (``keyturn.service.clocks``). Beyond
KEYTURN_MAX_CLOCK_OFFSET a replica here is not ready; a host clock years
behind is wrong whatever the stores say."""

from __future__ import annotations

import datetime as dt
from typing import Any

from keyturn.cli.doctor.check import Check, Doctor, skipped
from keyturn.config import Settings

PLAUSIBLE_FROM = 2024  # a host clock before this year was never set


async def check_clock(name: str, store: Any | None, settings: Settings, now: float) -> Check:
    """``store`` is ``None`` when it could not be reached: only this host's
    clock is judged then."""
    title = f"{name} clock"
    today = dt.datetime.fromtimestamp(now, dt.timezone.utc)
    if today.year < PLAUSIBLE_FROM:
        return Check(title, "fail", f"system clock says {today:%Y-%m-%d}", "fix the system clock (NTP)")
    if store is None:
        return skipped(title, f"no {name} to read; this host's clock is plausible")
    try:
        reading = await store.measure_clock()
    except Exception as exc:  # a driver error is exactly what doctor is for
        return Check(title, "warn", f"cannot read the {name}'s clock: {type(exc).__name__}", "")
    detail = f"the {name}'s clock is {reading.offset:+.3f} s (± {reading.uncertainty:.3f}) from this host's"
    limit = settings.max_clock_offset
    if abs(reading.offset) - reading.uncertainty > limit:
        return Check(title, "fail", f"{detail}, beyond KEYTURN_MAX_CLOCK_OFFSET ({limit:g} s): "
                     "a replica here is not ready and answers refreshes 503", "run NTP on every host")
    if abs(reading.offset) > limit / 2:
        return Check(title, "warn", f"{detail}; the limit is {limit:g} s", "run NTP on every host")
    return Check(title, "ok", detail)


async def clock_checks(d: Doctor) -> list[Check]:
    """The database's clock, and the session store's when it is not the
    database."""
    stores = d.database() if "database" not in d.unreachable else None
    found = [await check_clock("database", stores.database if stores is not None else None, d.settings, d.now)]
    try:
        engine = d.session_engine()
    except Exception:  # noqa: BLE001 - the session store's own finding says why
        return [*found, skipped("session store clock", "the session store cannot be opened")]
    if engine is not None:
        reachable = engine.engine if "session store" not in d.unreachable else None
        found.append(await check_clock("session store", reachable, d.settings, d.now))
    return found
