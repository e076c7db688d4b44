"""The stores: each answers, and how fast (with the fix for what a driver
says when it does not), and the database schema is the code's."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from keyturn.cli.doctor.check import Check, Doctor, skipped
from keyturn.errors import KeyturnError


async def _latency(ping: Callable[[], Any], rounds: int = 5) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        await ping()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


# The driver's reason (lower case) -> what to do about it: the detail already
# says what is wrong, the fix says what to change.
_STORE_FIXES = (
    ("role", "create that role (CREATE ROLE … LOGIN PASSWORD …) or put an existing user in the URL"),
    ("does not exist", "create that database (createdb NAME, or CREATE DATABASE) or fix its name in the URL"),
    ("unknown database", "create that database (CREATE DATABASE … CHARACTER SET utf8mb4) or fix its name in the URL"),
    ("access denied", "fix the user and password in the URL, or GRANT that user access to the database"),
    ("password authentication failed", "fix the password in the URL"),
    ("db index is out of range", "use a Redis database number the server has (0-15 unless redis.conf sets "
                                 "`databases`): the /N at the end of the URL"),
    ("noauth", "put the Redis password in the URL (redis://:PASSWORD@host:6379/0)"),
    ("wrongpass", "fix the Redis user or password in the URL"),
    ("invalid username-password", "fix the Redis user or password in the URL"),
    ("connection refused", "start the server, or fix the host and port in the URL: nothing listens there"),
    ("unknown host", "fix the host name in the URL: it does not resolve"),
    ("name or service not known", "fix the host name in the URL: it does not resolve"),
    ("no answer in time", "the host does not answer: check the network path and firewall to it"),
    ("timed out", "the host does not answer: check the network path and firewall to it"),
    ("unreachable", "check the network route to that host"),
    ("not writable", "make that directory writable by the service's user"),
)


def store_fix(detail: str) -> str:
    low = detail.lower()
    return next((fix for needle, fix in _STORE_FIXES if needle in low),
                "check the URL, its credentials and that the server is up")


async def check_store(name: str, url: str, store: Any) -> Check:
    from keyturn.stores.explain import explain

    try:
        seconds = await _latency(store.ping)
    except Exception as exc:  # a driver error is exactly what doctor is for
        detail = explain(name, url, exc)
        return Check(name, "fail", detail, store_fix(detail.rpartition(": ")[2]))
    ms = seconds * 1000
    if ms > 20:
        return Check(name, "warn", f"reachable, {ms:.1f} ms per round trip",
                     "every refresh costs a round trip: put the store close to the service")
    return Check(name, "ok", f"reachable, {ms:.1f} ms per round trip")


async def check_migrations(store: Any) -> Check:
    engine = getattr(store, "engine", None)
    if engine is None:
        return Check("migrations", "ok", "no SQL schema to migrate")
    from keyturn.stores.sql.migrations import FLOOR_TABLE, VERSION_TABLE, knows, newer_schema, recorded, scripts

    script = scripts()
    head = script.get_current_head()
    try:
        async with engine.connect() as conn:
            current, floor = await conn.run_sync(lambda c: (recorded(c, VERSION_TABLE), recorded(c, FLOOR_TABLE)))
    except Exception as exc:
        return Check("migrations", "fail", f"cannot read the schema version: {type(exc).__name__}",
                     "check the database connection")
    current = current or floor  # a database of a release up to 0.1
    if current == head:
        return Check("migrations", "ok", f"at head ({head})")
    if current is not None and not knows(script, current):
        try:
            return Check("migrations", "warn", newer_schema(script, current, floor),
                         "finish the rolling upgrade: run the newer release everywhere")
        except KeyturnError as exc:  # the refusal the service would start with
            return Check("migrations", "fail", exc.description, "run the release that migrated the database")
    return Check("migrations", "warn", f"schema at {current or 'nothing'}, code expects {head}",
                 "run `keyturn db upgrade` (the service also migrates on start)")


async def database_checks(d: Doctor) -> list[Check]:
    missing = d.database_missing()
    if missing is not None:
        d.unreachable.add("database")
        return [Check("database", "fail", f"no database at {missing} yet (KEYTURN_DATABASE_URL)",
                      "start `keyturn serve` there once (it creates and migrates it), or point "
                      "KEYTURN_DATABASE_URL at the service's database")]
    stores = d.database()
    assert stores is not None
    found = await check_store("database", d.settings.database_url, stores.database)
    if found.status == "fail":
        d.unreachable.add("database")
    return [found]


async def session_store_checks(d: Doctor) -> list[Check]:
    engine = d.session_engine()
    if engine is None:
        return []  # the database holds the sessions: checked above
    url = d.settings.sessions_url
    found = await check_store("session store", url, engine.engine)
    if found.status == "fail":
        d.unreachable.add("session store")
    return [found]


async def migration_checks(d: Doctor) -> list[Check]:
    if "database" in d.unreachable:
        return [skipped("migrations", "no database to read")]
    stores = d.database()
    return [await check_migrations(stores.database if stores is not None else None)]
