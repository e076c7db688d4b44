"""Log lines: one JSON object per line for machines, a short readable line
on a terminal, each carrying the id of the request it belongs to.

The request id lives in a context variable set by the HTTP edge
(``keyturn.http.observe``), so any log line written while a request is
served — a security event, a store warning — names that request without
anyone passing the id along. Nothing here ever formats a token or a
password: callers log ids, codes and addresses only.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal

import orjson

LogFormat = Literal["auto", "json", "text"]


@dataclass(slots=True)
class RequestContext:
    """What the edge learns about the request it is serving. Mutable, so
    code deeper in the call (``wire.error_response``) can note the outcome
    for the access log and the metrics without another lookup."""

    request_id: str
    code: str | None = None
    grace: bool = False
    ip: str | None = None
    """The client's address (``X-Forwarded-For`` walked), the one address
    the access log, binding, throttling, sessions and events use."""
    peer: str | None = None
    """The TCP peer, when it differs from ``ip`` (a trusted proxy)."""
    gone: Callable[[], Awaitable[bool]] | None = None
    """Whether the client has gone — its connection closed, or the request
    is older than its deadline — asked before a verdict only a waiting
    client may cause (``keyturn.http.deadline.departure``)."""


CURRENT: ContextVar[RequestContext | None] = ContextVar("keyturn_request", default=None)

# LogRecord attributes that are not "extra" fields.
# (uvicorn's "color_message" duplicates "msg" with terminal escapes.)
_STANDARD = frozenset(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {
    "message", "asctime", "taskName", "color_message",
}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}


_second: list[Any] = [-1, ""]


def _ts(created: float) -> str:
    """ISO-8601 UTC with milliseconds; the seconds part is cached (one log
    line per request must stay cheap)."""
    whole = int(created)
    if whole != _second[0]:
        _second[0] = whole
        _second[1] = dt.datetime.fromtimestamp(whole, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{_second[1]}.{int((created - whole) * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", "request_id", ...extra}`` per line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": _ts(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        ctx = CURRENT.get()
        if ctx is not None:
            line["request_id"] = ctx.request_id
        fields = record.__dict__.get("fields")
        # Fast path: the access line hands its fields over as one dict.
        line.update(fields if isinstance(fields, dict) else _extras(record))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    """``12:00:01 INFO keyturn.http GET /auth/me 200 1.2ms [req=…] key=value``."""

    def format(self, record: logging.LogRecord) -> str:
        clock = dt.datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        parts = [clock, f"{record.levelname:<7}", record.name, record.getMessage()]
        fields = record.__dict__.get("fields")
        extras = dict(fields) if isinstance(fields, dict) else _extras(record)
        ctx = CURRENT.get()
        rid = extras.pop("request_id", None) or (ctx.request_id if ctx else None)
        if rid:
            parts.append(f"[req={rid}]")
        parts += [f"{k}={v}" for k, v in extras.items() if v is not None and k != "event"]
        text = " ".join(str(p) for p in parts)
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def lean_records() -> None:
    """Stop ``logging`` collecting what our lines never show (thread, process
    and task names, caller file and line): it cuts the cost of a log call
    by about two thirds, and the access line is written on every request."""
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None  # documented switch that skips findCaller
    if hasattr(logging, "logAsyncioTasks"):
        setattr(logging, "logAsyncioTasks", False)


def make_formatter(kind: str = "json") -> logging.Formatter:
    """Factory used by ``logging.config.dictConfig`` — so also in every
    uvicorn worker process, which is why it applies ``lean_records`` too."""
    lean_records()
    return TextFormatter() if kind == "text" else JsonFormatter()


def resolve_format(fmt: LogFormat, stream: Any = None) -> Literal["json", "text"]:
    """``auto``: readable lines on a terminal, JSON otherwise."""
    if fmt != "auto":
        return fmt
    stream = stream if stream is not None else sys.stderr
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


def logging_config(level: str, fmt: LogFormat) -> dict[str, Any]:
    """A ``dictConfig`` for keyturn and uvicorn alike: one handler on stderr,
    one format. Passed to uvicorn so every worker process applies it."""
    kind = resolve_format(fmt)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"keyturn": {"()": "keyturn.logs.make_formatter", "kind": kind}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "keyturn", "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            # Access lines come from keyturn.access (with the request id).
            "uvicorn.access": {"handlers": [], "propagate": False},
            # Migration chatter on every start; warnings still show.
            "alembic": {"level": "WARNING"},
        },
    }
