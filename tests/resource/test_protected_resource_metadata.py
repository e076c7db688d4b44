"""RFC 9728 protected resource metadata from the resource-server side."""

from __future__ import annotations

from keyturn.resource.metadata import protected_resource_metadata
from keyturn.resource.verifier import Verifier


async def test_protected_resource_metadata_from_the_starlette_adapter() -> None:
    """RFC 9728 §2-§3: the resource names keyturn as its authorization
    server, header-only bearer tokens, and the DPoP algorithms it accepts."""
    from starlette.applications import Starlette
    import httpx

    from keyturn.resource.adapters.starlette import protected_resource_route

    verifier = Verifier(None, issuer="https://id.example.com", audience="keyturn", dpop_algorithms=("Ed25519", "ES256"),
                        revocations=False)
    app = Starlette(routes=[protected_resource_route(verifier, "https://api.example.com", scopes_supported=("read",))])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://api.example.com") as client:
        r = await client.get("/.well-known/oauth-protected-resource")
    assert r.status_code == 200
    assert r.json() == {
        "resource": "https://api.example.com", "authorization_servers": ["https://id.example.com"],
        "bearer_methods_supported": ["header"], "dpop_signing_alg_values_supported": ["Ed25519", "ES256"],
        "scopes_supported": ["read"],
    }


def test_the_document_says_only_what_was_given() -> None:
    """RFC 9728 §2: optional members appear only when they say something."""
    assert protected_resource_metadata("https://api.example.com", "https://id.example.com") == {
        "resource": "https://api.example.com", "authorization_servers": ["https://id.example.com"],
        "bearer_methods_supported": ["header"],
    }
    assert protected_resource_metadata("https://r", "https://i", dpop_bound_access_tokens_required=True)[
        "dpop_bound_access_tokens_required"] is True
