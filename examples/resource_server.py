"""A FastAPI resource server protected by keyturn's Verifier.

It checks access tokens offline from the service's JWKS and learns about
revocations from the service's feed (as resource client KEYTURN_CLIENT_ID).

    KEYTURN_URL=http://127.0.0.1:8000 KEYTURN_CLIENT_ID=rs KEYTURN_CLIENT_SECRET=... \\
        python examples/resource_server.py --port 8001
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import AsyncIterator

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
    args = parser.parse_args()
    verifier = Verifier.for_service(
        os.environ["KEYTURN_URL"],
        issuer=os.environ.get("KEYTURN_ISSUER", "keyturn"),
        audience=os.environ.get("KEYTURN_AUDIENCE", "keyturn"),
        client_id=os.environ.get("KEYTURN_CLIENT_ID"),
        client_secret=os.environ.get("KEYTURN_CLIENT_SECRET"),
        poll_wait=20.0,  # long-poll: revocations arrive within a fraction of a second
    )
    uvicorn.run(create_app(verifier), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
