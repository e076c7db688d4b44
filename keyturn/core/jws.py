"""The one reader of compact JWS (RFC 7515 §7.1), for access tokens and DPoP
proofs alike: three canonical base64url parts, JSON objects with unique
members and no ``NaN``/``Infinity``, bounded size and depth. Whatever an
unauthenticated caller sends ends in ``ValueError`` here, never in a
``RecursionError`` or another surprise further up."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from keyturn.core.refresh import b64decode


@dataclass(frozen=True, slots=True)
class ParsedJws:
    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes


def unique_members(pairs: list[tuple[str, Any]], repeated: str = "duplicate member {!r}") -> dict[str, Any]:
    """A ``json.loads`` ``object_pairs_hook`` that refuses a repeated member
    (``ValueError`` with ``repeated`` naming it) instead of keeping the last."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(repeated.format(key))
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259 §6)")


def json_object(part: str) -> dict[str, Any]:
    """One base64url JSON-object part; ``ValueError`` for anything else."""
    try:
        value = json.loads(b64decode(part), object_pairs_hook=unique_members, parse_constant=_no_constant)
    except (RecursionError, UnicodeError):
        raise ValueError("malformed JSON part") from None
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def read(token: str, *, max_length: int, payload: bool = True) -> ParsedJws:
    """The parts of a compact JWS; ``ValueError`` if it is not one. With
    ``payload=False`` the payload is left unparsed (read it only after the
    signature holds)."""
    if not isinstance(token, str) or len(token) > max_length or token.count(".") != 2:
        raise ValueError("not a compact JWS")
    head, body, sig = token.split(".")
    try:
        signing_input = f"{head}.{body}".encode("ascii")
    except UnicodeError:
        raise ValueError("not a compact JWS") from None
    return ParsedJws(json_object(head), json_object(body) if payload else {}, signing_input, b64decode(sig) if sig else b"")
