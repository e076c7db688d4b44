"""What every doctor check shares: the finding it returns (``Check``) and the
``Doctor`` it reads the deployment through."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from keyturn.clock import SystemClock
from keyturn.config import Settings
from keyturn.stores.bundle import SessionEngine, Stores

Status = Literal["ok", "warn", "fail", "skip"]


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def skipped(name: str, why: str) -> Check:
    return Check(name, "skip", f"not checked: {why}")


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
