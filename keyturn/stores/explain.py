"""Why a store could not be used, in one line a person can act on.

A start-up or ``/readyz`` failure names the store (database, session store,
security store), the setting that points at it, its URL with the password
masked, the host and port, and the driver's own reason ("connection
refused", 'role "x" does not exist', "Access denied for user ..."). Drivers
are not imported here: the reason is read off the exception chain, so this
module costs nothing on a light install.
"""

from __future__ import annotations

import contextlib
import errno
import re
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

from keyturn.errors import KeyturnError, StoreUnavailable
from keyturn.store_urls import scheme_of, sqlite_path

MASK = "********"
_URL_PASSWORD = re.compile(r"(?P<head>[a-z0-9+]+://[^:/@]*:)(?P<pw>[^@]*)(?P<tail>@)", re.IGNORECASE)
SETTING = {"database": "KEYTURN_DATABASE_URL", "session store": "KEYTURN_SESSION_STORE_URL",
           "security store": "KEYTURN_SESSION_STORE_URL"}
_ERRNO_TEXT = {
    errno.ECONNREFUSED: "connection refused",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.ETIMEDOUT: "connection timed out",
    errno.EACCES: "permission denied",
    errno.EROFS: "read-only file system",
}


class StoreStartFailed(StoreUnavailable):
    """A store the service needs could not be opened at start: the
    description is the one line an operator reads (never sent to clients)."""


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``********``."""
    return _URL_PASSWORD.sub(lambda m: m["head"] + MASK + m["tail"], url)


def where(url: str) -> str:
    """``host:port`` for a network URL, the absolute file for SQLite."""
    family = getattr(scheme_of(url), "family", None)
    if family == "sqlite":
        path = sqlite_path(url)
        return "in memory" if path in ("", ":memory:") else str(Path(path).resolve())
    if family == "memory":
        return "in process"
    parts = urlsplit(url)
    try:
        host, port = parts.hostname, parts.port
    except ValueError:  # several hosts (a Redis Cluster seed list)
        return parts.netloc.rpartition("@")[2] or "?"
    return f"{host or 'localhost'}:{port}" if port else (host or "localhost")


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and everything under it: causes, contexts and SQLAlchemy's ``orig``."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop(0)
        if item is None or any(item is s for s in seen):
            continue
        seen.append(item)
        orig = getattr(item, "orig", None)
        todo += [orig if isinstance(orig, BaseException) else None, item.__cause__, item.__context__]
    return seen


def _text(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno in _ERRNO_TEXT:
        return _ERRNO_TEXT[exc.errno]
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    args = exc.args
    # asyncmy/PyMySQL: (code, message)
    if len(args) == 2 and isinstance(args[0], int) and isinstance(args[1], str):
        return args[1]
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "Connection refused" in text or "Connect call failed" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host"
    return re.sub(r"^\([\w.]+\)\s*", "", text)[:200]


def reason(exc: BaseException) -> str:
    """The driver's reason, from the innermost exception that has one."""
    chain = [e for e in _chain(exc) if not isinstance(e, StoreUnavailable)] or [exc]
    # The deepest driver error says the most; wrappers repeat it with noise.
    for item in reversed(chain):
        if type(item).__module__.split(".")[0] not in ("sqlalchemy", "builtins") or isinstance(item, OSError):
            return _text(item)
    return _text(chain[-1])


def _sqlite_hint(url: str) -> str:
    """For SQLite, whether the file's directory takes new files (SQLite needs
    it for the database and its journal): tried, since root ignores modes."""
    if getattr(scheme_of(url), "family", None) != "sqlite" or where(url) == "in memory":
        return ""
    folder = Path(where(url)).parent
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return f"; the directory {folder} is not writable ({exc.strerror or type(exc).__name__})"
    return ""


def explain(store: str, url: str, exc: BaseException) -> str:
    """One line: which store, which setting, where, and why."""
    setting = SETTING.get(store, "KEYTURN_DATABASE_URL")
    return f"{store} ({setting}={mask_url(url)}) at {where(url)}: {reason(exc)}{_sqlite_hint(url)}"


@contextlib.asynccontextmanager
async def opening(store: str, url: str) -> AsyncIterator[None]:
    """Turn any failure to open ``store`` into ``StoreStartFailed`` with the
    one-line explanation; our own errors (a bad setting) pass unchanged."""
    try:
        yield
    except StoreUnavailable as exc:
        raise StoreStartFailed(explain(store, url, exc)) from exc
    except KeyturnError:
        raise
    except Exception as exc:
        raise StoreStartFailed(explain(store, url, exc)) from exc


def failed_store(exc: BaseException, database_url: str, session_store_url: str) -> tuple[str, str]:
    """Which store a request-time failure came from, by the driver that
    raised it: ``(name, url)``. Redis holds only sessions and their security
    state; an SQL failure is the database's unless the sessions live in a
    second SQL database, which this cannot tell apart."""
    modules = {type(e).__module__.split(".")[0] for e in _chain(exc)}
    if "redis" in modules:
        return "session store", session_store_url
    if session_store_url != database_url and getattr(scheme_of(session_store_url), "is_sql", False):
        return "database or session store", f"{database_url} / {session_store_url}"
    return "database", database_url


def outage_line(exc: BaseException, database_url: str, session_store_url: str) -> str:
    """The log line of a 503: which store, its masked URL, and why."""
    store, url = failed_store(exc, database_url, session_store_url)
    return f"{store} unavailable ({mask_url(url)}): {reason(exc)}"
