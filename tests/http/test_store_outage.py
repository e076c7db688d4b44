"""A failing store: 503 store_unavailable, fail closed, nothing lost."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


async def test_outage_is_503_and_recovers(make_api: Callable[..., Any]) -> None:
    async with make_api(database_url="memory://") as api:
        tokens = await api.user_and_login()
        store = api.runtime.stores.database
        store.down = True
        for r in (
            await api.login(),
            await api.refresh(tokens["refresh_token"]),
            await api.get("/auth/me", tokens["access_token"]),
            await api.post("/auth/logout", tokens["access_token"]),
        ):
            assert (r.status_code, r.json()["code"]) == (503, "store_unavailable")
            assert "Traceback" not in r.text
        r = await api.client.get("/readyz")
        assert r.status_code == 503 and r.json()["stores"]["database"] == "unavailable"
        store.down = False
        # Nothing was consumed or revoked by the failed calls.
        assert (await api.get("/auth/me", tokens["access_token"])).status_code == 200
        assert (await api.refresh(tokens["refresh_token"])).status_code == 200
        assert (await api.client.get("/readyz")).status_code == 200
