"""A store outage names the store for the operator (/readyz, the log line)
while the client's 503 stays generic."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest


async def test_readyz_and_the_log_name_the_failing_store(
    make_api: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    async with make_api(database_url="memory://") as api:
        tokens = await api.user_and_login()
        api.runtime.stores.database.down = True
        with caplog.at_level(logging.WARNING, logger="keyturn"):
            ready = await api.client.get("/readyz")
            failed = await api.get("/auth/me", tokens["access_token"])
        assert ready.status_code == 503
        assert ready.json()["stores"]["database"] == "unavailable"
        assert ready.json()["detail"]["database"].startswith("database (KEYTURN_DATABASE_URL=memory://)")
        assert failed.status_code == 503
        assert failed.json()["error_description"] == "the token store is unavailable; retry shortly"
        assert "memory://" not in failed.text
        logged = [r.getMessage() for r in caplog.records]
        assert any(m.startswith("readyz: database (KEYTURN_DATABASE_URL=memory://)") for m in logged), logged
        assert any(m.startswith("request failed: store_unavailable: database unavailable (memory://)")
                   for m in logged), logged
        api.runtime.stores.database.down = False
        assert "detail" not in (await api.client.get("/readyz")).json()
