"""The master key: from ``KEYTURN_MASTER_KEY``, or — on the embedded SQLite
default only — generated once into a 0600 file next to the database."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from keyturn.config import Settings
from keyturn.core.refresh import b64decode, b64encode
from keyturn.errors import ConfigError

log = logging.getLogger("keyturn.masterkey")
MIN_BYTES = 32


def parse_master_key(text: str, source: str = "KEYTURN_MASTER_KEY") -> bytes:
    try:
        raw = b64decode(text.strip().rstrip("="))
    except ValueError:
        raise ConfigError(f"{source}: not base64url") from None
    if len(raw) < MIN_BYTES:
        raise ConfigError(f"{source}: must be at least {MIN_BYTES} bytes (base64url of 32 random bytes)")
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
        if settings.database_url.startswith("sqlite") or settings.database_url.startswith("memory"):
            log.warning("no master key and no database file: using a throw-away key for this process")
            return secrets.token_bytes(MIN_BYTES)
        raise ConfigError(
            "KEYTURN_MASTER_KEY: required when the database is not SQLite "
            "(every replica must share it; make one with `keyturn keys new-master-key`)"
        )
    if path.exists():
        return parse_master_key(path.read_text(), source=str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker made it a moment ago
        return _read_when_written(path)
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
