"""``keyturn doctor``: check a deployment and say what to fix.

Read-only: it never migrates, never creates a master key or a signing key
(the service does those on start). Each check returns ok / warn / fail (or
skip, when what it reads is missing) with a detail and, when not ok, the fix.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from keyturn.clock import SystemClock
from keyturn.config import Settings, lifetime_warnings, unknown_variables
from keyturn.errors import KeyturnError
from keyturn.stores.bundle import SessionEngine, Stores

Status = Literal["ok", "warn", "fail", "skip"]
KEY_MAX_AGE_DAYS = 90


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def check_master_key(settings: Settings) -> Check:
    from keyturn.service.masterkey import key_file_for, parse_master_key

    if settings.master_key:
        try:
            parse_master_key(settings.master_key)
        except KeyturnError as exc:
            return Check("master key", "fail", exc.description, "make one with `keyturn keys new-master-key`")
        return Check("master key", "ok", "from KEYTURN_MASTER_KEY")
    path = key_file_for(settings)
    if path is None:
        if settings.database_family not in ("sqlite", "memory"):
            return Check("master key", "fail", "KEYTURN_MASTER_KEY is not set",
                         "set KEYTURN_MASTER_KEY (the same on every replica); make one with `keyturn keys new-master-key`")
        return Check("master key", "warn", "throw-away key per process: tokens die on restart",
                     "set KEYTURN_MASTER_KEY")
    if not path.exists():
        return Check("master key", "warn", f"{path} does not exist yet; the service will generate it on start",
                     "set KEYTURN_MASTER_KEY in production and keep it out of database backups")
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        return Check("master key", "warn", f"{path} has mode {mode:o}", f"chmod 600 {path}")
    return Check("master key", "ok", f"from {path} (mode 600); prefer KEYTURN_MASTER_KEY in production",
                 "")


def check_settings(settings: Settings) -> list[Check]:
    found = [Check("configuration", "ok", "settings load")]
    for line in unknown_variables():
        found.append(Check("configuration", "warn", line, "fix the name, or remove it where it is set"))
    if settings.argon2_memory_cost < 19_456 or settings.argon2_time_cost < 2:
        found.append(Check("password hashing", "warn",
                           f"argon2id m={settings.argon2_memory_cost} KiB t={settings.argon2_time_cost} is weak",
                           "KEYTURN_ARGON2_MEMORY_COST ≥ 19456 and KEYTURN_ARGON2_TIME_COST ≥ 2 (OWASP)"))
    if settings.cookie_secure == "never":
        found.append(Check("refresh cookie", "warn", "KEYTURN_COOKIE_SECURE=never sends the cookie over plain http",
                           "use auto (the default) or always"))
    for line in lifetime_warnings(settings):
        found.append(Check("lifetimes", "warn", line,
                           "keep KEYTURN_ACCESS_TOKEN_TTL ≤ KEYTURN_REFRESH_TOKEN_TTL ≤ KEYTURN_SESSION_MAX_AGE"))
    if settings.reuse_interval > 60:
        found.append(Check("grace window", "warn", f"{settings.reuse_interval} s lets an old token be retried long",
                           "keep KEYTURN_REUSE_INTERVAL at a few seconds (default 10)"))
    return found


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


async def check_keys(rt: Any, now: float) -> Check:
    try:
        await rt.keys.reload(now)
    except KeyturnError as exc:
        return Check("signing keys", "fail", exc.description, "check the database")
    except Exception:
        return Check("signing keys", "fail", "cannot decrypt the stored signing keys",
                     "KEYTURN_MASTER_KEY is not the key they were encrypted with: restore the right one")
    stored = rt.keys.describe()
    alg = rt.settings.signing_alg
    # The key that signs now, not the newest: during a rotation the next key
    # is published ahead and must not hide the age of the one in use.
    signing = [k for k in stored if k.alg == alg and k.signs_at(now)]
    if not signing:
        return Check("signing keys", "warn", f"no active {alg} key yet",
                     "start the service once (it creates one)")
    current = max(signing, key=lambda k: k.starts)
    age_days = (now - current.starts) / 86_400
    detail = f"active {current.alg} key {current.kid}, {age_days:.0f} days old; {len(stored)} published"
    upcoming = [k for k in stored if k.alg == alg and k.revoked_at is None and k.starts > now]
    if upcoming:
        nxt = min(upcoming, key=lambda k: k.starts)
        when = dt.datetime.fromtimestamp(nxt.starts, dt.timezone.utc)
        detail += f"; {nxt.kid} signs from {when:%Y-%m-%d %H:%M} UTC"
        return Check("signing keys", "ok", detail)
    if age_days > KEY_MAX_AGE_DAYS:
        return Check("signing keys", "warn", detail, "rotate with `keyturn keys rotate`")
    return Check("signing keys", "ok", detail)


async def check_clock(store: Any, settings: Settings, now: float) -> Check:
    if dt.datetime.fromtimestamp(now, dt.timezone.utc).year < 2024:
        return Check("clock", "fail", f"system clock says {dt.datetime.fromtimestamp(now, dt.timezone.utc):%Y-%m-%d}",
                     "fix the system clock (NTP)")
    engine = getattr(store, "engine", None)
    if engine is None or engine.dialect.name == "sqlite":
        return Check("clock", "ok", "system clock plausible; the database shares this machine's clock")
    import sqlalchemy as sa

    query = "SELECT EXTRACT(EPOCH FROM CURRENT_TIMESTAMP)" if engine.dialect.name == "postgresql" \
        else "SELECT UNIX_TIMESTAMP(NOW(6))"
    try:
        async with engine.connect() as conn:
            before = time.time()
            remote = float((await conn.execute(sa.text(query))).scalar_one())
            after = time.time()
    except Exception as exc:
        return Check("clock", "warn", f"cannot read the database clock: {type(exc).__name__}", "")
    skew = remote - (before + after) / 2
    detail = f"database clock differs by {skew:+.2f} s"
    if abs(skew) > settings.clock_leeway:
        return Check("clock", "fail", detail, "run NTP on every host: expiry decisions depend on the clock")
    if abs(skew) > 1:
        return Check("clock", "warn", detail, "run NTP on every host")
    return Check("clock", "ok", detail)


class Doctor:
    """What the checks share: the settings, one clock reading, and the stores,
    each opened once and only when a check needs it. Read-only: a missing
    SQLite file is reported, never created."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.now = SystemClock().now()
        self._opened: dict[str, Any] = {}
        self.unreachable: set[str] = set()  # stores a check found failing

    def database_missing(self) -> Path | None:
        path = self.settings.sqlite_path()
        return path.absolute() if path is not None and not path.exists() else None

    def database(self) -> Stores | None:
        """The database's stores; ``None`` when there is no database yet."""
        from keyturn.stores.open import open_database

        if self.database_missing() is not None:
            return None
        if "database" not in self._opened:
            self._opened["database"] = open_database(self.settings)
        stores: Stores = self._opened["database"]
        return stores

    def session_engine(self) -> SessionEngine | None:
        """The session store when it is not the database."""
        from keyturn.stores.open import open_session_engine

        if "sessions" not in self._opened:
            self._opened["sessions"] = open_session_engine(self.settings)
        engine: SessionEngine | None = self._opened["sessions"]
        return engine

    def runtime(self) -> Any:
        """The service wired on the database (keys live there); a throw-away
        master key when none exists yet, since doctor never writes one."""
        from keyturn.service.masterkey import key_file_for, new_master_key
        from keyturn.service.wiring import build_runtime

        if "runtime" not in self._opened:
            settings = self.settings
            path = key_file_for(settings)
            if not settings.master_key and (path is None or not path.exists()):
                settings = settings.model_copy(update={"master_key": new_master_key()})
            self._opened["runtime"] = build_runtime(settings, stores=self.database())
        return self._opened["runtime"]

    async def close(self) -> None:
        rt = self._opened.pop("runtime", None)
        if rt is not None:
            rt.service.passwords.close()
        for item in self._opened.values():
            if item is not None:
                await (item.close() if isinstance(item, Stores) else item.engine.close())


def skipped(name: str, why: str) -> Check:
    return Check(name, "skip", f"not checked: {why}")


async def settings_checks(d: Doctor) -> list[Check]:
    return check_settings(d.settings)


async def master_key_checks(d: Doctor) -> list[Check]:
    return [check_master_key(d.settings)]


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


async def redis_checks(d: Doctor) -> list[Check]:
    """Persistence and eviction: a Redis that forgets or evicts keys logs
    people out and brings revoked tokens back."""
    from keyturn.stores.redis.safety import SAFE_POLICY, read_config

    engine = d.session_engine()
    client = getattr(engine.engine, "client", None) if engine is not None else None
    if client is None or "session store" in d.unreachable:
        return []
    found = []
    aof = await read_config(client, "appendonly", "yes")
    if aof is None:
        found.append(Check("redis persistence", "warn", "CONFIG GET appendonly is refused by this server",
                           "make sure the provider keeps AOF on (appendonly yes, appendfsync everysec)"))
    elif aof != "yes":
        found.append(Check("redis persistence", "warn",
                           f"appendonly {aof}: a Redis restart loses every session (everyone is logged out) "
                           "and revocations", "set `appendonly yes` and `appendfsync everysec` in redis.conf "
                           "(CONFIG SET appendonly yes applies it now)"))
    else:
        found.append(Check("redis persistence", "ok", "appendonly yes"))
    policy = await read_config(client, "maxmemory-policy", SAFE_POLICY)
    if policy == SAFE_POLICY:
        found.append(Check("redis eviction", "ok", "maxmemory-policy noeviction"))
    else:
        what = f"maxmemory-policy {policy}" if policy else "maxmemory-policy cannot be read (CONFIG refused)"
        allowed = d.settings.redis_allow_eviction
        found.append(Check(
            "redis eviction", "warn" if allowed else "fail",
            f"{what}: sessions and revocations may be evicted"
            + ("" if allowed else "; keyturn serve refuses to start on it"),
            "set `maxmemory-policy noeviction` in redis.conf (CONFIG SET applies it now)"))
    return found


async def migration_checks(d: Doctor) -> list[Check]:
    if "database" in d.unreachable:
        return [skipped("migrations", "no database to read")]
    stores = d.database()
    return [await check_migrations(stores.database if stores is not None else None)]


async def key_checks(d: Doctor) -> list[Check]:
    if "database" in d.unreachable:
        return [skipped("signing keys", "no database to read")]
    if check_master_key(d.settings).status == "fail":
        return [skipped("signing keys", "no usable master key")]
    stores = d.database()
    if stores is not None and (await check_migrations(stores.database)).status != "ok":
        return [skipped("signing keys", "the schema is not migrated")]
    return [await check_keys(d.runtime(), d.now)]


async def clock_checks(d: Doctor) -> list[Check]:
    if "database" in d.unreachable:
        found = await check_clock(None, d.settings, d.now)
        return [found if found.status != "ok" else Check("clock", "ok", "system clock plausible; the database's "
                                                                          "clock not read (no database)")]
    stores = d.database()
    return [await check_clock(stores.database if stores is not None else None, d.settings, d.now)]


async def check_store_clock(name: str, store: Any, settings: Settings) -> Check:
    """This host's clock against the store's, as a replica measures it
    (``keyturn.service.clocks``): beyond KEYTURN_MAX_CLOCK_OFFSET a replica
    here is not ready."""
    try:
        reading = await store.measure_clock()
    except Exception as exc:  # a driver error is exactly what doctor is for
        return Check(f"{name} clock", "warn", f"cannot read the {name}'s clock: {type(exc).__name__}", "")
    detail = f"the {name}'s clock is {reading.offset:+.3f} s (± {reading.uncertainty:.3f}) from this host's"
    limit = settings.max_clock_offset
    if abs(reading.offset) - reading.uncertainty > limit:
        return Check(f"{name} clock", "fail", f"{detail}, beyond KEYTURN_MAX_CLOCK_OFFSET ({limit:g} s): "
                     "a replica here is not ready and answers refreshes 503", "run NTP on every host")
    if abs(reading.offset) > limit / 2:
        return Check(f"{name} clock", "warn", f"{detail}; the limit is {limit:g} s", "run NTP on every host")
    return Check(f"{name} clock", "ok", detail)


async def store_clock_checks(d: Doctor) -> list[Check]:
    """Each store's clock against this host's, as a replica measures it."""
    found = []
    stores = d.database() if "database" not in d.unreachable else None
    if stores is not None:
        found.append(await check_store_clock("database", stores.database, d.settings))
    engine = d.session_engine() if "session store" not in d.unreachable else None
    if engine is not None:
        found.append(await check_store_clock("session store", engine.engine, d.settings))
    return found


DoctorCheck = Callable[[Doctor], Awaitable[list[Check]]]
CHECKS: list[DoctorCheck] = [
    settings_checks, master_key_checks, database_checks, session_store_checks, redis_checks,
    migration_checks, key_checks, clock_checks, store_clock_checks,
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
