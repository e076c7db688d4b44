"""``GET /auth/revocations?since=<cursor>[&wait=<seconds>]``: the revocation
feed for resource servers (see ``keyturn.service.feed``).

Only authenticated resource-server clients may read it (HTTP Basic, RFC 7617,
credentials from ``KEYTURN_RESOURCE_CLIENTS`` or registered with ``keyturn
clients add``): the feed lists live session ids, which are not secrets but
are nobody else's business.
"""

from __future__ import annotations

import math
import time

from starlette.requests import Request
from starlette.responses import Response

from keyturn.config import Settings
from keyturn.core.credentials import basic_credentials
from keyturn.errors import BadRequest, InvalidClient
from keyturn.http.wire import NO_STORE, JSONResponse, error_response
from keyturn.service.feed import TOKEN_PREFIX, Cursor
from keyturn.service.keys import FEED_PREFIX
from keyturn.stores.protocols import Revocation
from keyturn.service.resource_clients import authenticate_basic, settings_client

STEP = 0.5  # how often a long-poll re-reads the shared log (other replicas' rows)


def resource_client(request: Request, settings: Settings) -> str:
    """The authenticated client id from ``KEYTURN_RESOURCE_CLIENTS``, or ``InvalidClient``."""
    creds = basic_credentials(request.headers.get("authorization"))
    if creds is None or not settings_client(settings, *creds):
        raise InvalidClient()
    return creds[0]


def _wait_param(raw: str | None, limit: float) -> float:
    if raw is None or raw == "":
        return 0.0
    try:
        wait = float(raw)
    except ValueError:
        raise BadRequest("'wait' must be a number of seconds") from None
    if not math.isfinite(wait) or wait < 0:
        raise BadRequest("'wait' must be a number of seconds")
    return min(wait, limit)


def _entry(row: Revocation) -> dict[str, str | int]:
    """A session (``sid``), one access token revoked by RFC 7009 (``jti``) or
    a revoked signing key (``kid``)."""
    exp = int(math.ceil(row.exp))
    if row.sid.startswith(TOKEN_PREFIX):
        return {"jti": row.sid[len(TOKEN_PREFIX):], "exp": exp}
    if row.sid.startswith(FEED_PREFIX):
        return {"kid": row.sid[len(FEED_PREFIX):], "exp": exp}
    return {"sid": row.sid, "exp": exp}


async def revocations(request: Request) -> Response:
    """Revoked sessions and access tokens since a cursor (long-poll with ``wait``)."""
    from keyturn.http.routes import runtime

    rt = runtime(request)
    try:
        try:
            resource_client(request, rt.settings)
        except InvalidClient:
            # Clients registered with `keyturn clients add`.
            await authenticate_basic(rt.stores.clients, request.headers.get("authorization"))
    except InvalidClient as exc:
        return error_response(exc)
    cursor = Cursor.parse(request.query_params.get("since"))
    if cursor is None:
        raise BadRequest("'since' must be a cursor this feed returned")
    wait = _wait_param(request.query_params.get("wait"), rt.settings.revocation_max_wait)
    feed = rt.revocations
    assert feed is not None
    deadline = time.monotonic() + wait
    while True:
        new_cursor, rows = await feed.since(cursor, now=rt.clock.now())
        left = deadline - time.monotonic()
        if left <= 0 or feed.has_news(cursor, rows):
            break
        await feed.wait(min(STEP, left))
        if await request.is_disconnected():
            break
    body = {"cursor": str(new_cursor), "revoked": [_entry(r) for r in rows]}
    return JSONResponse(body, headers=NO_STORE)
