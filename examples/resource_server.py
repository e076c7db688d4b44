"""A FastAPI resource server protected by keyturn's Verifier.

It checks access tokens offline from the service's JWKS and learns about
revocations from the service's feed. ``keyturn clients add rs`` prints the
generated client id (``kc_...``) and its secret: those are the two values
below, not the name ``rs``.

    pip install fastapi uvicorn          # besides the light keyturn install
    KEYTURN_URL=http://127.0.0.1:8000 KEYTURN_CLIENT_ID=kc_... KEYTURN_CLIENT_SECRET=... \\
        python examples/resource_server.py --port 8001

Without the two the example refuses to start (a Verifier without the feed
accepts signed-out users' tokens until they expire); ``--no-revocations``
accepts that for a quick try.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Depends, FastAPI

from keyturn.adapters.fastapi import install, require_user
from keyturn.verify import AccessClaims, Verifier


def create_app(verifier: Verifier) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with verifier:  # fetch keys and the feed, then keep them fresh
            yield

    app = FastAPI(lifespan=lifespan)
    install(app)
    user = require_user(verifier)

    @app.get("/hello")
    async def hello(claims: AccessClaims = Depends(user)) -> dict[str, str]:
        return {"message": f"hello {claims.sub}", "session": claims.sid}

    return app


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--no-revocations", action="store_true",
                        help="no revocation feed: signed-out users' tokens stay good until they expire")
    args = parser.parse_args()
    url = os.environ.get("KEYTURN_URL")
    if not url:
        parser.error("set KEYTURN_URL to the keyturn service, e.g. http://127.0.0.1:8000")
    if not args.no_revocations and not (os.environ.get("KEYTURN_CLIENT_ID") and os.environ.get("KEYTURN_CLIENT_SECRET")):
        parser.error("set KEYTURN_CLIENT_ID and KEYTURN_CLIENT_SECRET to what `keyturn clients add NAME` printed "
                     "(the id is kc_...), or pass --no-revocations")
    extra: dict[str, Any] = {"revocations": False} if args.no_revocations else {}
    verifier = Verifier.for_service(
        url,
        issuer=os.environ.get("KEYTURN_ISSUER", "keyturn"),
        audience=os.environ.get("KEYTURN_AUDIENCE", "keyturn"),
        client_id=os.environ.get("KEYTURN_CLIENT_ID"),
        client_secret=os.environ.get("KEYTURN_CLIENT_SECRET"),
        poll_wait=20.0,  # long-poll: revocations arrive within a fraction of a second
        **extra,
    )
    uvicorn.run(create_app(verifier), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
