"""Running the doctor: every check in order, each finding one line."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable

from keyturn.cli.doctor.check import Check, Doctor
from keyturn.cli.doctor.clock import clock_checks
from keyturn.cli.doctor.keys import key_checks
from keyturn.cli.doctor.redis import redis_checks
from keyturn.cli.doctor.settings import master_key_checks, settings_checks
from keyturn.cli.doctor.stores import database_checks, migration_checks, session_store_checks
from keyturn.config import Settings
from keyturn.errors import KeyturnError

DoctorCheck = Callable[[Doctor], Awaitable[list[Check]]]
CHECKS: list[DoctorCheck] = [
    settings_checks, master_key_checks, database_checks, session_store_checks, redis_checks,
    migration_checks, key_checks, clock_checks,
]
"""Every check, in the order a person would fix them. Each is independent
(it reads what it needs from the ``Doctor``) and one failing never stops
the others: adding a check is adding a function here."""


def _name(check: DoctorCheck) -> str:
    return check.__name__.removesuffix("_checks").replace("_", " ")


async def diagnose(settings: Settings) -> list[Check]:
    """Every check's findings; a check that breaks is a finding too, in one
    line, never a traceback (driver logs are silenced while it runs)."""
    doctor = Doctor(settings)
    found: list[Check] = []
    logging.disable(logging.CRITICAL)
    try:
        for check in CHECKS:
            try:
                found += await check(doctor)
            except KeyturnError as exc:
                found.append(Check(_name(check), "fail", exc.description, "fix that setting"))
            except Exception as exc:  # noqa: BLE001 - one line per finding, whatever broke
                found.append(Check(_name(check), "fail", f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                                   if str(exc) else type(exc).__name__, "run `keyturn serve` to see the full error"))
        with contextlib.suppress(Exception):
            await doctor.close()
    finally:
        logging.disable(logging.NOTSET)
    return found
