"""Just enough JWS (RFC 7515) to read a token's header and claims without
trusting them, and to forge the tokens the attack checks present.

Forged tokens are built by hand on purpose: a careful JWT library refuses to
make them (``alg: none``, an HMAC keyed with a public key)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def is_jwt(token: str | None) -> bool:
    return token is not None and token.count(".") == 2 and parts(token) is not None


def parts(token: str) -> tuple[dict[str, object], dict[str, object]] | None:
    """The (header, claims) of a compact JWS, unverified; None if it is not one."""
    try:
        head, body, _ = token.split(".")
        header = json.loads(b64url_decode(head))
        claims = json.loads(b64url_decode(body))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return None
    return header, claims


def encode_unsigned(header: dict[str, object], claims: dict[str, object]) -> str:
    """``header.claims.`` with an empty signature."""
    return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}."


def sign_hs256(header: dict[str, object], claims: dict[str, object], key: bytes) -> str:
    signing_input = encode_unsigned(header, claims)[:-1]
    mac = hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def flip(token: str) -> str:
    """The token with one character changed three quarters of the way in
    (inside the secret or signature, never the last character, whose low
    bits base64url may ignore)."""
    index = min(len(token) - 2, max(0, len(token) * 3 // 4))
    while index > 0 and token[index] in "._":
        index -= 1
    char = token[index]
    replacement = "B" if char == "A" else "A"
    return token[:index] + replacement + token[index + 1:]
