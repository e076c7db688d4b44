"""The checks that read only the settings: the master key and the settings
that are legal but unwise."""

from __future__ import annotations

from keyturn.cli.doctor.check import Check, Doctor
from keyturn.config import Settings, lifetime_warnings, unknown_variables
from keyturn.errors import KeyturnError


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


async def settings_checks(d: Doctor) -> list[Check]:
    return check_settings(d.settings)


async def master_key_checks(d: Doctor) -> list[Check]:
    return [check_master_key(d.settings)]
