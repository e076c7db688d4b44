"""Hand-made JWTs: whatever a token's parts say, spelled exactly as given."""

from __future__ import annotations

import base64
import json
from typing import Any


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def part(obj: Any) -> str:
    return b64(json.dumps(obj, separators=(",", ":")).encode() if not isinstance(obj, (bytes, str)) else
               obj.encode() if isinstance(obj, str) else obj)


def split(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    h, p, s = token.split(".")
    return json.loads(unb64(h)), json.loads(unb64(p)), unb64(s)


def assemble(header: Any, payload: Any, signature: bytes = b"") -> str:
    return f"{part(header)}.{part(payload)}.{b64(signature)}"


def signing_input(header: Any, payload: Any) -> bytes:
    return f"{part(header)}.{part(payload)}".encode()
