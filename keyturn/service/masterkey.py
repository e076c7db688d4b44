"""The master key: from ``KEYTURN_MASTER_KEY``, or — on the embedded SQLite
default only — generated once into a 0600 file next to the database."""

from __future__ import annotations

import logging
import os
import re
import secrets
from pathlib import Path

from keyturn.config import Settings
from keyturn.core.refresh import b64decode, b64encode
from keyturn.errors import ConfigError

log = logging.getLogger("keyturn.masterkey")
MIN_BYTES = 32


def parse_master_key(text: str, source: str = "KEYTURN_MASTER_KEY") -> bytes:
    cleaned = text.strip().rstrip("=")
    wrong_length = (
        f"{source}: must be {MIN_BYTES} bytes (43 base64url characters), this is about {len(cleaned) * 3 // 4}; "
        "make one with `keyturn keys new-master-key`"
    )
    try:
        raw = b64decode(cleaned)
    except ValueError:
        if re.fullmatch(r"[A-Za-z0-9_-]*", cleaned) and len(cleaned) * 3 // 4 < MIN_BYTES:
            raise ConfigError(wrong_length) from None
        if re.fullmatch(r"[A-Za-z0-9+/_-]*", cleaned) and re.search(r"[+/]", cleaned):
            raise ConfigError(f"{source}: not base64url: write '-' for '+' and '_' for '/'") from None
        raise ConfigError(f"{source}: not base64url (A-Z a-z 0-9 - _); make one with `keyturn keys new-master-key`") \
            from None
    if len(raw) < MIN_BYTES:
        raise ConfigError(wrong_length)
    return raw


def new_master_key() -> str:
    return b64encode(secrets.token_bytes(MIN_BYTES))


def key_file_for(settings: Settings) -> Path | None:
    if settings.master_key_file:
        return Path(settings.master_key_file)
    db = settings.sqlite_path()
    return None if db is None else db.with_name(db.name + ".master-key")


def resolve_master_key(settings: Settings) -> bytes:
    if settings.master_key:
        return parse_master_key(settings.master_key)
    path = key_file_for(settings)
    if path is None:
        if settings.database_family in ("sqlite", "memory"):
            log.warning("no master key and no database file: using a throw-away key for this process")
            return secrets.token_bytes(MIN_BYTES)
        raise ConfigError(
            "KEYTURN_MASTER_KEY: required when the database is not SQLite "
            "(every replica must share it; make one with `keyturn keys new-master-key`)"
        )
    setting = "KEYTURN_MASTER_KEY_FILE" if settings.master_key_file else "KEYTURN_DATABASE_URL (key file beside it)"
    if path.exists():
        try:
            return parse_master_key(path.read_text(), source=str(path.absolute()))
        except OSError as exc:
            raise ConfigError(f"{setting}: cannot read {path.absolute()}: {exc.strerror}") from None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker made it a moment ago
        return _read_when_written(path)
    except OSError as exc:
        raise ConfigError(
            f"{setting}: cannot create the master key file {path.absolute()}: {exc.strerror} "
            "(make its directory writable, or set KEYTURN_MASTER_KEY)"
        ) from None
    with os.fdopen(fd, "w") as fh:
        fh.write(new_master_key() + "\n")
    log.warning(
        "generated a master key in %s (mode 0600); set KEYTURN_MASTER_KEY in production "
        "and keep it out of backups of the database",
        path,
    )
    return parse_master_key(path.read_text(), source=str(path))


def _read_when_written(path: Path) -> bytes:
    import time

    for _ in range(50):
        text = path.read_text()
        if text.endswith("\n"):
            return parse_master_key(text, source=str(path))
        time.sleep(0.02)
    return parse_master_key(path.read_text(), source=str(path))
