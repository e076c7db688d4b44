"""RFC 9728 protected resource metadata: what a resource server protected
by the ``Verifier`` tells clients about itself — which authorization server
issues its tokens, how to send them, which DPoP algorithms it accepts.

Pure (a dict): every adapter can serve it at ``WELL_KNOWN``; the Starlette
adapter has a ready route (``protected_resource_route``).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

WELL_KNOWN = "/.well-known/oauth-protected-resource"


def protected_resource_metadata(
    resource: str, issuer: str, *, dpop_algorithms: Collection[str] = (), scopes_supported: Collection[str] = (),
    dpop_bound_access_tokens_required: bool = False,
) -> dict[str, Any]:
    """RFC 9728 §2. ``resource`` is this server's identifier (an https URL,
    §1.2: the URL the metadata is fetched under, without the well-known
    suffix, §3.3); ``issuer`` is keyturn's (the ``Verifier``'s) issuer."""
    document: dict[str, Any] = {
        "resource": resource,
        "authorization_servers": [issuer],
        "bearer_methods_supported": ["header"],  # never the query or the body (RFC 6750 §2)
    }
    if dpop_algorithms:
        document["dpop_signing_alg_values_supported"] = list(dpop_algorithms)
    if scopes_supported:
        document["scopes_supported"] = list(scopes_supported)
    if dpop_bound_access_tokens_required:
        document["dpop_bound_access_tokens_required"] = True
    return document
