"""Refresh-token format and MAC.

A refresh token is ``krt_<session id>_<secret>``. The secret is
``base64url(generation ‖ HMAC-SHA256(refresh key, "krt1" ‖ session id ‖
generation ‖ salt))``, with the refresh key derived from the master key and a
random salt kept per session in the store. So:

* forging a token needs both the server's key and the database;
* every token a session ever issued is recognised as genuine, so an *older*
  one is proof of reuse, while a secret it never issued is a guess that
  changes nothing;
* the successor of a token is recomputable, so a retry inside the grace
  window gets the very same successor without storing it;
* the store holds nothing from which a live token can be rebuilt without the
  key (only the salt).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import struct
from dataclasses import dataclass

PREFIX = "krt_"
SESSION_ID_BYTES = 16
SALT_BYTES = 32
_MAC_BYTES = 32
_GEN = struct.Struct(">I")
_SECRET_BYTES = _GEN.size + _MAC_BYTES
_SID_LEN = 22  # base64url of 16 bytes, unpadded
_SECRET_LEN = 48  # base64url of 36 bytes
TOKEN_LENGTH = len(PREFIX) + _SID_LEN + 1 + _SECRET_LEN
MAX_GENERATION = 2**32 - 1
_B64 = re.compile(r"[A-Za-z0-9_-]+")


def b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64decode(text: str) -> bytes:
    """Strict base64url: only the URL-safe alphabet, no padding, canonical
    trailing bits (so one token has exactly one spelling)."""
    if not _B64.fullmatch(text):
        raise ValueError("not base64url")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None
    if b64encode(raw) != text:
        raise ValueError("non-canonical base64url")
    return raw


def new_session_id() -> str:
    """128 random bits, URL-safe."""
    return b64encode(secrets.token_bytes(SESSION_ID_BYTES))


def new_salt() -> bytes:
    return secrets.token_bytes(SALT_BYTES)


@dataclass(frozen=True, slots=True)
class ParsedRefreshToken:
    session_id: str
    generation: int
    mac: bytes


def parse(token: str) -> ParsedRefreshToken | None:
    """Split a presented token; ``None`` for anything not shaped like ours.
    Cheap and bounded: the length is checked before any decoding."""
    if len(token) != TOKEN_LENGTH or not token.startswith(PREFIX):
        return None
    sid = token[len(PREFIX) : len(PREFIX) + _SID_LEN]
    if token[len(PREFIX) + _SID_LEN] != "_":
        return None
    try:
        b64decode(sid)
        raw = b64decode(token[len(PREFIX) + _SID_LEN + 1 :])
    except ValueError:
        return None
    if len(raw) != _SECRET_BYTES:
        return None
    (generation,) = _GEN.unpack_from(raw)
    return ParsedRefreshToken(sid, generation, raw[_GEN.size :])


class RefreshMac:
    """Mints and checks refresh tokens with one key."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the refresh key must have at least 256 bits")
        self._key = key

    def _mac(self, session_id: str, generation: int, salt: bytes) -> bytes:
        msg = b"krt1" + session_id.encode("ascii") + _GEN.pack(generation) + salt
        return hmac.new(self._key, msg, hashlib.sha256).digest()

    def mint(self, session_id: str, generation: int, salt: bytes) -> str:
        if not 0 <= generation <= MAX_GENERATION:
            raise ValueError("generation out of range")
        secret = _GEN.pack(generation) + self._mac(session_id, generation, salt)
        return f"{PREFIX}{session_id}_{b64encode(secret)}"

    def is_genuine(self, token: ParsedRefreshToken, salt: bytes) -> bool:
        """Constant-time: a guess must not learn how many bytes it got right."""
        expected = self._mac(token.session_id, token.generation, salt)
        return hmac.compare_digest(expected, token.mac)
