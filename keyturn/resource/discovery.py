"""RFC 8414 discovery for resource servers: from the issuer URL alone to
the metadata (and from there to the JWKS and the revocation feed).

Light face: httpx only, nothing of the server.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from keyturn.resource.feed import HttpRevocationSource

WELL_KNOWN = "/.well-known/oauth-authorization-server"


class DiscoveryError(ValueError):
    """The issuer's metadata could not be fetched or does not name it."""


def metadata_url(issuer: str) -> str:
    """RFC 8414 §3.1: the well-known path goes between the host and the
    issuer's own path (``https://a.example/t1`` ->
    ``https://a.example/.well-known/oauth-authorization-server/t1``)."""
    parts = urlsplit(issuer)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
        raise DiscoveryError(f"the issuer must be an http(s) URL without query or fragment, not {issuer!r}")
    path = parts.path.rstrip("/")
    return f"{parts.scheme}://{parts.netloc}{WELL_KNOWN}{path}"


def fetch_metadata(issuer: str, *, timeout: float = 5.0, transport: httpx.BaseTransport | None = None) -> dict[str, Any]:
    """The issuer's metadata, checked as RFC 8414 §3.3 demands: its
    ``issuer`` is exactly the one asked for (else an attacker's document
    could name another issuer's keys)."""
    url = metadata_url(issuer)
    try:
        with httpx.Client(transport=transport, timeout=timeout) as client:
            response = client.get(url, headers={"accept": "application/json"})
            response.raise_for_status()
            document = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise DiscoveryError(f"could not read the metadata at {url}: {exc}") from None
    if not isinstance(document, dict) or document.get("issuer") != issuer:
        found = document.get("issuer") if isinstance(document, dict) else None
        raise DiscoveryError(f"the metadata at {url} names issuer {found!r}, not {issuer!r}")
    if not isinstance(document.get("jwks_uri"), str):
        raise DiscoveryError(f"the metadata at {url} has no jwks_uri")
    return document


def discover(
    issuer: str, *, client_id: str | None, client_secret: str | None, timeout: float = 5.0,
    transport: httpx.BaseTransport | None = None,
) -> tuple[str, HttpRevocationSource | None]:
    """``(jwks_uri, revocation feed or None)`` for ``Verifier.discover``.
    Credentials given but no feed in the metadata is an error, never a
    Verifier that silently skips revocations."""
    meta = fetch_metadata(issuer, timeout=timeout, transport=transport)
    if client_id is None or client_secret is None:
        return meta["jwks_uri"], None
    feed = meta.get("keyturn_revocation_feed_endpoint")
    if not isinstance(feed, str):
        raise DiscoveryError("the issuer's metadata names no keyturn revocation feed")
    return meta["jwks_uri"], HttpRevocationSource(feed, client_id=client_id, client_secret=client_secret,
                                                  transport=transport)
