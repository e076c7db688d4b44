"""Users: the value, username normalisation and the password rules."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Any

from keyturn.errors import BadRequest, WeakPassword

MAX_USERNAME_CHARS = 64
MAX_PASSWORD_BYTES = 1024


@dataclass(frozen=True, slots=True)
class User:
    id: str
    username: str  # normalised: NFKC, case-folded
    password_hash: str
    created_at: float
    disabled: bool = False
    # What every access token of the user carries (``keyturn.core.claims``).
    claims: dict[str, Any] = field(default_factory=dict)
    scope: str | None = None


def normalize_username(raw: object) -> str:
    """NFKC + case-fold, so "Alice" and "ＡＬＩＣＥ" are one account."""
    if not isinstance(raw, str):
        raise BadRequest("username must be a string")
    if len(raw) > 4 * MAX_USERNAME_CHARS:
        raise BadRequest(f"username must be at most {MAX_USERNAME_CHARS} characters")
    name = unicodedata.normalize("NFKC", raw).strip().casefold()
    if not name:
        raise BadRequest("username must not be empty")
    if len(name) > MAX_USERNAME_CHARS:
        raise BadRequest(f"username must be at most {MAX_USERNAME_CHARS} characters")
    if any(unicodedata.category(c)[0] == "C" for c in name):  # also lone surrogates
        raise BadRequest("username must not contain control characters")
    return name


def check_password_shape(raw: object) -> str:
    """Shape only (type and size), checked before any hashing: a password is
    never truncated, and a huge one never reaches argon2."""
    if not isinstance(raw, str):
        raise BadRequest("password must be a string")
    if "\x00" in raw:
        raise BadRequest("password must not contain NUL")
    try:
        size = len(raw.encode("utf-8"))
    except UnicodeEncodeError:
        raise BadRequest("password must be valid Unicode text") from None
    if size > MAX_PASSWORD_BYTES:
        raise BadRequest(f"password must be at most {MAX_PASSWORD_BYTES} bytes")
    return raw


def check_new_password(raw: object, min_length: int) -> str:
    password = check_password_shape(raw)
    if len(password) < min_length:
        raise WeakPassword(f"password must be at least {min_length} characters")
    return password
