"""Importing users with the password hashes they already have.

The input is JSON lines, one user each:
``{"username", "password_hash", "claims"?, "scope"?, "disabled"?}``.
All or nothing: every line is checked (JSON, fields, username, hash format
and cost, names repeated after normalisation, users already there) before
one transaction writes them, and the first bad line is named. Running the
same file again is harmless: a user already there with the very same hash
is skipped. One already there with another hash (a password changed, or
upgraded at a login since the first run) stops the import, unless
``skip_existing`` says to leave every existing user as it is; an import
never overwrites a stored hash (that could undo a password change).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from keyturn.core import refresh as rt
from keyturn.core.claims import check_claims, check_scope
from keyturn.core.jws import unique_members
from keyturn.core.users import User, normalize_username
from keyturn.errors import BadRequest, UsernameTaken
from keyturn.service import foreign_hashes
from keyturn.stores.protocols import UserStore

FIELDS = ("username", "password_hash", "claims", "scope", "disabled")
MAX_LINE_BYTES = 64 * 1024


class ImportRefused(BadRequest):
    """A line that cannot be imported; nothing was."""

    def __init__(self, line: int, why: str) -> None:
        super().__init__(f"line {line}: {why}; nothing was imported")
        self.line = line


@dataclass(frozen=True, slots=True)
class ImportRecord:
    """One line, checked."""

    line: int
    username: str  # normalised
    password_hash: str
    disabled: bool = False
    claims: dict[str, Any] | None = None
    scope: str | None = None


@dataclass(frozen=True, slots=True)
class ImportResult:
    imported: int
    skipped: int


def parse_lines(lines: Iterable[bytes]) -> list[ImportRecord]:
    """Every line checked on its own and against the others; blank lines
    are skipped (and still counted, so line numbers match an editor's)."""
    records: list[ImportRecord] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        record = parse_line(number, raw)
        if record.username in seen:
            raise ImportRefused(number, f"username {record.username!r} is also on line {seen[record.username]}")
        seen[record.username] = number
        records.append(record)
    return records


def parse_line(number: int, raw: bytes) -> ImportRecord:
    if len(raw) > MAX_LINE_BYTES:
        raise ImportRefused(number, f"longer than {MAX_LINE_BYTES} bytes")
    try:
        obj = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_repeated_keys)
    except UnicodeDecodeError:
        raise ImportRefused(number, "not UTF-8") from None
    except ValueError as exc:  # json.JSONDecodeError, or a repeated key
        raise ImportRefused(number, f"not a JSON object ({exc})") from None
    if not isinstance(obj, dict):
        raise ImportRefused(number, "not a JSON object")
    unknown = sorted(set(obj) - set(FIELDS))
    if unknown:
        raise ImportRefused(number, f"unknown field {unknown[0]!r} (fields: {', '.join(FIELDS)})")
    for field in ("username", "password_hash"):
        if field not in obj:
            raise ImportRefused(number, f"{field} is missing")
    try:
        username = normalize_username(obj["username"])
    except BadRequest as exc:
        raise ImportRefused(number, exc.description) from None
    stored = obj["password_hash"]
    if not isinstance(stored, str):
        raise ImportRefused(number, "password_hash must be a string")
    try:
        foreign_hashes.describe(stored)
    except BadRequest as exc:
        raise ImportRefused(number, exc.description) from None
    disabled = obj.get("disabled", False)
    if not isinstance(disabled, bool):
        raise ImportRefused(number, "disabled must be true or false")
    try:  # the same rules as `keyturn users set` and /backend/sessions
        claims = check_claims(obj["claims"]) if obj.get("claims") is not None else None
        scope = check_scope(obj["scope"]) if obj.get("scope") is not None else None
    except BadRequest as exc:
        raise ImportRefused(number, exc.description) from None
    return ImportRecord(number, username, stored, disabled, claims, scope)


def _no_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return unique_members(pairs, "{!r} appears twice")


def new_user(record: ImportRecord, now: float) -> User:
    """The user a record makes: the one place a record's fields become a
    ``User``."""
    return User(
        id=rt.b64encode(secrets.token_bytes(12)),
        username=record.username,
        password_hash=record.password_hash,
        created_at=now,
        disabled=record.disabled,
        claims=record.claims or {},
        scope=record.scope,
    )


async def import_users(
    users: UserStore, records: list[ImportRecord], *, now: float, skip_existing: bool = False
) -> ImportResult:
    """Write ``records`` in one step after checking each against the store."""
    fresh: list[User] = []
    skipped = 0
    there = {u.username: u for u in await users.users_by_names([r.username for r in records])}
    for record in records:
        user = new_user(record, now)
        existing = there.get(record.username)
        if existing is None:
            fresh.append(user)
        elif existing.password_hash == record.password_hash or skip_existing:
            skipped += 1
        else:
            raise ImportRefused(
                record.line,
                f"user {record.username!r} already exists with another password hash "
                "(changed, or upgraded at a login since it was imported); --skip-existing leaves "
                "existing users as they are",
            )
    try:
        await users.add_users(fresh)
    except UsernameTaken:
        raise UsernameTaken(
            "a user named in the file was created while the import ran; nothing was imported: run it again"
        ) from None
    return ImportResult(imported=len(fresh), skipped=skipped)
