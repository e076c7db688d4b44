"""How an error is answered, in one place for the service and for every
resource-server adapter (credentials are read by ``keyturn.core.credentials``).

Pure (no web framework): the adapters import it in a light install.
"""

from __future__ import annotations

from keyturn.errors import (
    BearerError,
    InsufficientScope,
    InvalidClient,
    InvalidDpopProof,
    KeyturnError,
    MissingToken,
    RateLimited,
    RefreshError,
    UseDpopNonce,
)

REALM = "keyturn"
NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}


def _quoted(text: str) -> str:
    return text.replace("\\", "").replace('"', "'")


def render(exc: KeyturnError, *, oauth: bool = False) -> tuple[int, dict[str, str], dict[str, str]]:
    """``(status, body, headers)``: RFC 6749 §5.2 / RFC 6750 §3 / RFC 9449
    §7.1 shape plus our stable ``code``. On the OAuth endpoints a refresh or
    proof failure is 400 (RFC 6749 §5.2); elsewhere the class decides."""
    status = exc.status
    if oauth and isinstance(exc, (RefreshError, InvalidDpopProof)) and not (
        isinstance(exc, UseDpopNonce) and exc.status == 401
    ):
        status = 400
    body = {"error": exc.error, "error_description": exc.description, "code": exc.code}
    headers = dict(NO_STORE)
    if isinstance(exc, RateLimited):
        headers["retry-after"] = str(exc.retry_after)
    if isinstance(exc, UseDpopNonce):
        headers["dpop-nonce"] = exc.nonce  # RFC 9449 §8.1
    if status == 400 and (oauth or isinstance(exc, UseDpopNonce)):
        # RFC 6749 §5.2, RFC 9449 §5: the token endpoint's errors are the
        # JSON body only; a challenge there makes strict clients raise a
        # WWW-Authenticate error that names no error code.
        return status, body, headers
    if isinstance(exc, MissingToken):
        # RFC 6750 §3.1: no authentication information -> no error code.
        headers["www-authenticate"] = f'Bearer realm="{REALM}"'
    elif isinstance(exc, BearerError):
        value = f'Bearer realm="{REALM}", error="{exc.error}", error_description="{_quoted(exc.description)}"'
        if isinstance(exc, InsufficientScope) and exc.scope:
            value += f', scope="{_quoted(exc.scope)}"'
        headers["www-authenticate"] = value
    elif isinstance(exc, InvalidDpopProof):
        headers["www-authenticate"] = (
            f'DPoP realm="{REALM}", error="{exc.error}", error_description="{_quoted(exc.description)}"'
        )
    elif isinstance(exc, InvalidClient) and exc.challenge:
        headers["www-authenticate"] = f'Basic realm="{REALM}", charset="UTF-8"'
    return status, body, headers
