"""``keyturn doctor``: check a deployment and say what to fix.

Read-only: it never migrates, never creates a master key or a signing key
(the service does those on start). Each check returns ok / warn / fail with
a detail and, when not ok, the fix.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from keyturn.clock import SystemClock
from keyturn.config import Settings, lifetime_warnings, unknown_variables
from keyturn.errors import KeyturnError

Status = Literal["ok", "warn", "fail"]
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
        found.append(Check("configuration", "warn", line, "fix the variable's name or unset it"))
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


async def check_store(name: str, url: str, store: Any) -> Check:
    from keyturn.stores.explain import explain

    try:
        seconds = await _latency(store.ping)
    except Exception as exc:  # a driver error is exactly what doctor is for
        return Check(name, "fail", explain(name, url, exc),
                     "check the URL and credentials, the server, and the network path to it")
    ms = seconds * 1000
    if ms > 20:
        return Check(name, "warn", f"reachable, {ms:.1f} ms per round trip",
                     "every refresh costs a round trip: put the store close to the service")
    return Check(name, "ok", f"reachable, {ms:.1f} ms per round trip")


async def check_migrations(store: Any) -> Check:
    engine = getattr(store, "engine", None)
    if engine is None:
        return Check("migrations", "ok", "no SQL schema to migrate")
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from keyturn.stores.sql.migrations import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    try:
        async with engine.connect() as conn:
            current = await conn.run_sync(
                lambda c: MigrationContext.configure(c, opts={"version_table": "kt_alembic_version"}).get_current_revision()
            )
    except Exception as exc:
        return Check("migrations", "fail", f"cannot read the schema version: {type(exc).__name__}",
                     "check the database connection")
    if current == head:
        return Check("migrations", "ok", f"at head ({head})")
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


async def diagnose(settings: Settings) -> list[Check]:
    """Every check, in the order a person would fix them."""
    from keyturn.service.masterkey import key_file_for, new_master_key
    from keyturn.service.wiring import build_runtime

    checks = [*check_settings(settings), check_master_key(settings)]
    if checks[-1].status == "fail":
        return checks
    db_file = settings.sqlite_path()
    if db_file is not None and not db_file.exists():
        # Read-only: opening SQLite would create an empty database here.
        return [*checks, Check("database", "fail", f"no database at {db_file.absolute()} (KEYTURN_DATABASE_URL)",
                               "run doctor where the service runs, or point KEYTURN_DATABASE_URL at its database")]
    path = key_file_for(settings)
    if not settings.master_key and (path is None or not path.exists()):
        # Read-only: never write a key file; a throw-away key is enough to ping.
        settings = settings.model_copy(update={"master_key": new_master_key()})
    try:
        rt = build_runtime(settings)
    except KeyturnError as exc:
        return [*checks, Check("stores", "fail", exc.description, "fix the URL")]
    try:
        stores = [await check_store("database", settings.database_url, rt.stores.database)]
        if rt.stores.session_engine is not None:
            stores.append(await check_store("session store", settings.sessions_url, rt.stores.session_engine))
        checks += stores
        if all(c.status != "fail" for c in stores):
            migrations = await check_migrations(rt.stores.database)
            checks.append(migrations)
            now = SystemClock().now()
            if migrations.status == "ok":
                checks.append(await check_keys(rt, now))
            else:
                checks.append(Check("signing keys", "warn", "not checked: the schema is not migrated", ""))
            checks.append(await check_clock(rt.stores.database, settings, now))
    finally:
        await rt.close()
    return checks
