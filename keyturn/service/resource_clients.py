"""Resource-server clients: who may call RFC 7662 introspection (and the
revocation feed).

``keyturn clients add NAME`` prints an id and a secret once. Only a hash of
the secret is stored: the secret is 256 random bits, so a plain SHA-256 is
enough (a password hash's work factor protects low-entropy secrets only),
and checking it costs nothing on the resource servers' hot path.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from keyturn.config import Settings
from keyturn.core.credentials import basic_credentials
from keyturn.core.refresh import b64encode
from keyturn.errors import InvalidClient
from keyturn.stores.protocols import ResourceClient, ResourceClientStore

SECRET_PREFIX = "kcs_"  # so secret scanners can spot a leaked one
ID_PREFIX = "kc_"  # every registered client's id starts so (new_client)
_DUMMY_HASH = "sha256$" + "0" * 64


def hash_secret(secret: str) -> str:
    return "sha256$" + hashlib.sha256(secret.encode("utf-8")).hexdigest()


CLIENT_SCOPES = frozenset({"sessions:issue"})  # what a client may be allowed besides reading


def new_client(name: str, now: float, *, scope: str | None = None) -> tuple[ResourceClient, str]:
    """A fresh client and its secret (shown once, never stored)."""
    name = name.strip()
    if not name or len(name) > 255:
        raise ValueError("a client name is 1 to 255 characters")
    tokens = (scope or "").split()
    unknown = [t for t in tokens if t not in CLIENT_SCOPES]
    if unknown:
        raise ValueError(f"unknown client scope {unknown[0]!r} (known: {', '.join(sorted(CLIENT_SCOPES))})")
    secret = SECRET_PREFIX + b64encode(secrets.token_bytes(32))
    client = ResourceClient(
        "kc_" + b64encode(secrets.token_bytes(12)), name, hash_secret(secret), now, scope=" ".join(tokens) or None,
    )
    return client, secret


async def authenticate_client(
    store: ResourceClientStore, client_id: str | None, client_secret: str | None
) -> ResourceClient:
    """The client these credentials belong to, or ``InvalidClient``. The
    comparison is constant-time, and an unknown id costs the same work."""
    if not client_id or client_secret is None or len(client_id) > 64 or len(client_secret) > 256:
        raise InvalidClient()
    client = await store.client_by_id(client_id)
    expected = client.secret_hash if client is not None else _DUMMY_HASH
    ok = hmac.compare_digest(expected.encode(), hash_secret(client_secret).encode())
    if client is None or not ok or client.disabled:
        raise InvalidClient()
    return client


async def authenticate_basic(store: ResourceClientStore, authorization: str | None) -> ResourceClient:
    """``authenticate_client`` from an ``Authorization`` header value."""
    creds = basic_credentials(authorization)
    if creds is None:
        raise InvalidClient()
    return await authenticate_client(store, *creds)


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


def settings_client(settings: Settings, client_id: str, client_secret: str) -> bool:
    """Whether the credentials are one of ``KEYTURN_RESOURCE_CLIENTS``.
    Digests compared in constant time, every entry compared, so the timing
    tells nothing about which id exists."""
    presented_id, presented = _digest(client_id), _digest(client_secret)
    ok = False
    for known_id, known_secret in settings.resource_client_secrets().items():
        match = hmac.compare_digest(_digest(known_secret), presented)
        ok |= match and hmac.compare_digest(_digest(known_id), presented_id)
    return ok


async def authenticate_resource_server(
    settings: Settings, store: ResourceClientStore, authorization: str | None,
) -> str:
    """The id of a resource server authenticated by HTTP Basic: one of
    ``KEYTURN_RESOURCE_CLIENTS`` or a registered client; ``InvalidClient``
    otherwise. Introspection and the revocation feed admit the same clients."""
    creds = basic_credentials(authorization)
    if creds is None:
        raise InvalidClient()
    if settings_client(settings, *creds):
        return creds[0]
    return (await authenticate_client(store, *creds)).id


def is_confidential(settings: Settings, client_id: str) -> bool:
    """Whether ``client_id`` names a client that has a secret, without a
    store read: a settings client, or a registered id (``kc_…``), which the
    caller then checks against the store."""
    return client_id in settings.resource_client_secrets() or client_id.startswith(ID_PREFIX)
