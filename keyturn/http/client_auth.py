"""Client authentication at ``/oauth/token`` and ``/oauth/revoke``
(RFC 6749 §2.3.1, §3.2.1; RFC 7009 §2.1).

Credentials a client presents are checked, never ignored: wrong ones are
401 ``invalid_client`` (RFC 6749 §5.2). A public client sends none, or
only its ``client_id`` (RFC 6749 §2.1), and is served as before. A
``client_id`` that names a confidential client must come with its secret.
"""

from __future__ import annotations

from starlette.requests import Request

from keyturn.core.credentials import basic_credentials
from keyturn.errors import BadRequest, InvalidClient
from keyturn.service.resource_clients import authenticate_client, is_confidential, settings_client
from keyturn.service.wiring import Runtime

# token_endpoint_auth_methods_supported (RFC 8414 §2)
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")


def _presented(authorization: str | None, form: dict[str, str]) -> tuple[str, str | None] | None:
    """``(client_id, secret or None)`` as presented, or ``None`` for none."""
    posted_id, posted_secret = form.get("client_id"), form.get("client_secret")
    if authorization and authorization.partition(" ")[0].lower() == "basic":
        creds = basic_credentials(authorization)
        if creds is None:
            raise InvalidClient("the Basic credentials are malformed")
        if posted_secret is not None or (posted_id is not None and posted_id != creds[0]):
            # RFC 6749 §2.3: one authentication method per request.
            raise BadRequest("use one client authentication method, not two")
        return creds[0], creds[1] or None
    if posted_secret is not None:
        if not posted_id:
            raise InvalidClient("client_secret without client_id")
        return posted_id, posted_secret
    return (posted_id, None) if posted_id else None


async def authenticate_token_client(request: Request, rt: Runtime, form: dict[str, str]) -> str | None:
    """The client's id (``None`` when it named none); ``InvalidClient`` for
    credentials that do not check out. The secret is compared in constant
    time (``settings_client`` / ``authenticate_client``)."""
    presented = _presented(request.headers.get("authorization"), form)
    if presented is None:
        return None
    client_id, secret = presented
    # RFC 6749 §5.2: a Basic challenge only for the header method.
    in_form = secret is not None and "client_secret" in form
    try:
        if len(client_id) > 255:
            raise InvalidClient()
        if secret is None:
            if is_confidential(rt.settings, client_id):
                raise InvalidClient("this client must authenticate")
            return client_id  # a public client naming itself
        if settings_client(rt.settings, client_id, secret):
            return client_id
        await authenticate_client(rt.stores.clients, client_id, secret)
        return client_id
    except InvalidClient as exc:
        raise InvalidClient(exc.description, challenge=not in_form) from None
