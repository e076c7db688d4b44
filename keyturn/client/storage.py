"""Where a ``TokenAuth`` keeps its tokens: in memory (default) or in a JSON
file (mode 0600) that several processes may share under a file lock.

Times in a stored token set are the *local* wall clock at receipt plus the
server's relative ``expires_in``, so a server with a skewed clock does not
matter, and processes on one machine agree.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, ContextManager, Protocol

from filelock import FileLock


@dataclass(frozen=True, slots=True)
class Tokens:
    """A token answer as the client keeps it."""

    access_token: str
    refresh_token: str
    expires_in: float
    obtained_at: float  # local wall clock when the answer arrived
    session_id: str | None = None
    refresh_token_expires_in: float | None = None
    issued_at: str | None = None  # the server's clock; informational
    token_type: str = "Bearer"  # "DPoP": the access token is bound to dpop_key (RFC 9449 §5)
    # The DPoP private key (a JWK, as JSON) the session is bound to: kept
    # with the tokens, so it has their file mode, their lock and their life.
    dpop_key: str | None = field(default=None, repr=False)

    @property
    def expires_at(self) -> float:
        """Local wall-clock time the access token expires."""
        return self.obtained_at + self.expires_in

    @classmethod
    def from_answer(cls, body: Mapping[str, Any], *, obtained_at: float) -> Tokens:
        access, refresh, expires_in = body.get("access_token"), body.get("refresh_token"), body.get("expires_in")
        if not isinstance(access, str) or not isinstance(refresh, str):
            raise ValueError("the token answer lacks access_token or refresh_token")
        if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float)) or expires_in <= 0:
            raise ValueError("the token answer lacks a positive expires_in")
        rexp = body.get("refresh_token_expires_in")
        sid, iat, kind = body.get("session_id"), body.get("issued_at"), body.get("token_type")
        return cls(
            access, refresh, float(expires_in), obtained_at,
            session_id=sid if isinstance(sid, str) else None,
            refresh_token_expires_in=float(rexp) if isinstance(rexp, (int, float)) else None,
            issued_at=iat if isinstance(iat, str) else None,
            token_type="DPoP" if isinstance(kind, str) and kind.lower() == "dpop" else "Bearer",
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Tokens:
        tokens = cls.from_answer(data, obtained_at=float(data["obtained_at"]))
        key = data.get("dpop_key")  # only ever from our own storage, never from an answer
        return replace(tokens, dpop_key=key) if isinstance(key, str) else tokens


class TokenStorage(Protocol):
    def load(self) -> Tokens | None: ...

    def save(self, tokens: Tokens) -> None: ...

    def clear(self) -> None: ...

    def lock(self) -> ContextManager[Any]:
        """A lock shared by every process using this storage (held around a
        refresh). A fresh context manager per call."""


class MemoryStorage:
    """Tokens in this process only (the default)."""

    def __init__(self, tokens: Tokens | None = None) -> None:
        self._tokens = tokens

    def load(self) -> Tokens | None:
        return self._tokens

    def save(self, tokens: Tokens) -> None:
        self._tokens = tokens

    def clear(self) -> None:
        self._tokens = None

    def lock(self) -> ContextManager[Any]:
        return contextlib.nullcontext()


class FileStorage:
    """Tokens in a JSON file created with mode 0600, replaced atomically, and
    a ``<file>.lock`` file lock so processes sharing it refresh one at a time."""

    def __init__(self, path: str | os.PathLike[str], *, lock_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.lock_timeout = lock_timeout

    def load(self) -> Tokens | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return Tokens.from_json(data)
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            return None  # a damaged file is as good as none: log in again

    def save(self, tokens: Tokens) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(6)}.tmp")
        # Created 0600 from the start (never world-readable, even briefly).
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(tokens.to_json(), fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def clear(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def lock(self) -> ContextManager[Any]:
        # A new lock object each time: flock() then excludes other threads
        # of this process too, and it may be released from another thread
        # (the async path acquires it in a worker thread).
        return FileLock(self.lock_path, timeout=self.lock_timeout, thread_local=False, mode=0o600)
