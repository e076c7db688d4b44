"""The attack suite's target: the ASGI app on the settings the run is
parametrised with (default: SQLite). To aim it at other engines, set
``KEYTURN_ATTACK_SETTINGS`` to a JSON object of settings, e.g.
``{"database_url": "postgresql://postgres@127.0.0.1/test", "session_store_url": "redis://127.0.0.1:6379/0"}``.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.conftest import Api

# The api client's own address is a trusted proxy, so a test can speak for
# many client addresses through X-Forwarded-For.
TRUSTED = {"trusted_proxies": ["203.0.113.7/32"]}


def attack_settings(**overrides: Any) -> dict[str, Any]:
    raw = os.environ.get("KEYTURN_ATTACK_SETTINGS")
    base: dict[str, Any] = json.loads(raw) if raw else {}
    return {**TRUSTED, **base, **overrides}


@pytest.fixture
def make_target(make_api: Callable[..., Any]) -> Callable[..., Any]:
    def make(**overrides: Any) -> Any:
        return make_api(**attack_settings(**overrides))

    return make


@pytest.fixture
async def target(make_target: Callable[..., Any]) -> AsyncIterator[Api]:
    async with make_target() as api:
        yield api


def assert_refused(response: Any, status: int, code: str) -> None:
    """The documented 4xx and code — never a 5xx."""
    assert response.status_code < 500, response.text
    assert response.status_code == status, response.text
    assert response.json()["code"] == code, response.text
