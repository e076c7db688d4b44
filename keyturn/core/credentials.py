"""The one reader of each ``Authorization`` scheme keyturn understands:
``Bearer`` (RFC 6750 §2.1), ``DPoP`` (RFC 9449 §7.1) and ``Basic``
(RFC 7617, for resource-server clients). Pure: the service, the CLI and the
resource-server adapters share it."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote

from keyturn.errors import MissingToken

MAX_AUTHORIZATION = 16384


def access_token(header: str | None) -> tuple[str, str]:
    """``(scheme, token)`` of ``Authorization: Bearer …`` (RFC 6750 §2.1) or
    ``DPoP …`` (RFC 9449 §7.1), the scheme lower-cased; ``MissingToken``
    otherwise. Tokens in the query string are never read."""
    if not header:
        raise MissingToken()
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() not in ("bearer", "dpop") or not token or len(header) > MAX_AUTHORIZATION:
        raise MissingToken("the Authorization header must be 'Bearer <token>' or 'DPoP <token>'")
    return scheme.lower(), token


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """``Authorization: Basic`` credentials (RFC 7617), each part
    form-urlencoded as RFC 6749 §2.3.1 asks; ``None`` when absent or bad."""
    if not header or len(header) > 2048:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    client_id, sep, secret = decoded.partition(":")
    if not sep or not client_id:
        return None
    return unquote(client_id), unquote(secret)
