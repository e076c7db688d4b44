"""The client: ``TokenAuth`` (an ``httpx.Auth`` that logs in and refreshes,
single-flight) and where it keeps its tokens."""

from __future__ import annotations

from keyturn.client.auth import (
    ClientConfigError,
    ClientError,
    FileStorage,
    LoginFailed,
    MemoryStorage,
    SessionEnded,
    TokenAuth,
    TokenServiceUnavailable,
    TokenStorage,
    Tokens,
)

__all__ = [
    "ClientConfigError", "ClientError", "FileStorage", "LoginFailed", "MemoryStorage", "SessionEnded", "TokenAuth",
    "TokenServiceUnavailable", "TokenStorage", "Tokens",
]
