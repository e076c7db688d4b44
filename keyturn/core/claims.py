"""What an app puts in its users' access tokens: per-user claims (a JSON
object) and a scope (RFC 9068 §2.2.3, RFC 6749 §3.3), and the subjects a
backend vouches for (docs/adopt.md).

Names keyturn vouches for can never be set by claims: a role claim must not
be able to overwrite ``sub``, ``exp`` or ``client_id``. The claims and scope
travel as one JSON text (``Grants.encode``), the form the session store keeps
beside each user's credential version, so a refresh reads them in the same
statement or script that rotates (no extra round trip).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from keyturn.errors import BadRequest

MAX_CLAIMS_BYTES = 2048
MAX_SCOPE_CHARS = 1024
MAX_SUBJECT_CHARS = 200

# RFC 7519 §4.1 registered claims, and every claim keyturn sets or checks
# (RFC 9068 §2.2, RFC 9449 §6 ``cnf``, RFC 8693 ``act``/``may_act``), and the
# members keyturn's RFC 7662 introspection answer sets beside the claims.
RESERVED = frozenset({
    "iss", "sub", "aud", "exp", "nbf", "iat", "jti",
    "sid", "cnf", "client_id", "scope", "typ", "auth_time", "acr", "amr", "act", "may_act",
    "active", "token_type",
})

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
# A subject is the app's own user id, verbatim: printable ASCII without
# spaces; no braces, which pick the Redis Cluster slot of the user's keys.
_SUBJECT = re.compile(r"[\x21-\x7a\x7c\x7e]+")
# An external subject's user record has a username no login can reach:
# ``normalize_username`` case-folds, so no normalised name has capitals.
EXTERNAL_USERNAME_PREFIX = "EXTERNAL:"


def check_claims(raw: object, *, field_name: str = "claims") -> dict[str, Any]:
    """A claims object as given by an operator or a backend: a JSON object,
    at most ``MAX_CLAIMS_BYTES`` serialised, with no reserved name."""
    if not isinstance(raw, dict):
        raise BadRequest(f"{field_name} must be a JSON object")
    for name in raw:
        if not isinstance(name, str) or not name:
            raise BadRequest(f"{field_name}: claim names must be non-empty strings")
        if name in RESERVED:
            raise BadRequest(f"{field_name}: {name!r} is a claim keyturn sets itself and cannot be set")
    try:
        size = len(json.dumps(raw, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8"))
    except (TypeError, ValueError):
        raise BadRequest(f"{field_name} must hold JSON values only") from None
    except RecursionError:  # nested far past what 2 KiB can hold
        raise BadRequest(f"{field_name} must be at most {MAX_CLAIMS_BYTES} bytes serialised") from None
    if size > MAX_CLAIMS_BYTES:
        raise BadRequest(f"{field_name} must be at most {MAX_CLAIMS_BYTES} bytes serialised (got {size})")
    return dict(raw)


def check_scope(raw: object, *, field_name: str = "scope") -> str | None:
    """A space-separated scope (RFC 6749 §3.3); empty or blank means none.
    Duplicates are dropped, order kept."""
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise BadRequest(f"{field_name} must be a string of space-separated scope tokens")
    if len(raw) > MAX_SCOPE_CHARS:
        raise BadRequest(f"{field_name} must be at most {MAX_SCOPE_CHARS} characters")
    tokens: list[str] = []
    for token in raw.split(" "):
        if not token:
            continue
        if not _SCOPE_TOKEN.fullmatch(token):
            raise BadRequest(f"{field_name}: {token!r} is not a valid scope token (RFC 6749 §3.3)")
        if token not in tokens:
            tokens.append(token)
    return " ".join(tokens) or None


def check_subject(raw: object) -> str:
    """An app's user id as a backend sends it: kept verbatim (it becomes
    ``sub``), so it is refused rather than normalised."""
    if not isinstance(raw, str):
        raise BadRequest("subject must be a string")
    if not raw:
        raise BadRequest("subject must not be empty")
    if len(raw) > MAX_SUBJECT_CHARS:
        raise BadRequest(f"subject must be at most {MAX_SUBJECT_CHARS} characters")
    if not _SUBJECT.fullmatch(raw):
        raise BadRequest("subject must be printable ASCII without spaces or braces")
    return raw


def external_username(subject: str) -> str:
    return EXTERNAL_USERNAME_PREFIX + subject


def is_external(username: str) -> bool:
    return username.startswith(EXTERNAL_USERNAME_PREFIX)


@dataclass(frozen=True, slots=True)
class Grants:
    """A user's claims and scope, as every access token of theirs carries them."""

    claims: Mapping[str, Any] = field(default_factory=dict)
    scope: str | None = None

    def encode(self) -> str:
        """The stored form (the session store keeps it per user)."""
        return json.dumps({"c": dict(self.claims), "s": self.scope}, separators=(",", ":"), ensure_ascii=False)

    @property
    def empty(self) -> bool:
        return not self.claims and self.scope is None


NO_GRANTS = Grants()


@functools.lru_cache(maxsize=4096)
def decode_grants(raw: str | None) -> Grants:
    """The stored form back; cached, since every refresh of a user reads the
    same text. A value this code cannot read carries nothing rather than
    failing the refresh (a release that wrote another form)."""
    if not raw:
        return NO_GRANTS
    try:
        obj = json.loads(raw)
    except ValueError:
        return NO_GRANTS
    if not isinstance(obj, dict):
        return NO_GRANTS
    claims = obj.get("c")
    scope = obj.get("s")
    return Grants(
        {k: v for k, v in claims.items() if k not in RESERVED} if isinstance(claims, dict) else {},
        scope if isinstance(scope, str) and scope else None,
    )
