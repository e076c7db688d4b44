"""Denylist keys for access tokens (docs/concepts.md, "Logout").

Entries are keyed by session id, and by ``(iss, jti)`` hashed — never by
the token string, so the denylist holds nothing a caller could replay. An
entry lives as long as the longest access token it can still concern.
"""

from __future__ import annotations

import hashlib

SESSION = "s"
TOKEN = "j"


def session_key(session_id: str) -> str:
    return f"{SESSION}:{session_id}"


def token_key(iss: str, jti: str) -> str:
    digest = hashlib.sha256(iss.encode("utf-8") + b"\x00" + jti.encode("utf-8")).hexdigest()[:40]
    return f"{TOKEN}:{digest}"


def check_keys(iss: str, jti: str, session_id: str) -> tuple[str, str]:
    """The two keys one bearer check looks up (O(1) each)."""
    return session_key(session_id), token_key(iss, jti)
