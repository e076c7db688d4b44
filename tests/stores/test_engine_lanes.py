"""The engine fixture marks ``backend`` exactly the tests that run on a
server engine (``lane`` in tests/conftest.py), so ``-m "not backend"``
runs on memory and SQLite alone; opening an engine is not slow."""

from __future__ import annotations

import pytest

from keyturn.stores.bundle import Stores
from tests.conftest import SERVER_ENGINES


async def test_server_engines_are_marked_backend(request: pytest.FixtureRequest, stores: Stores) -> None:
    engine = request.node.callspec.params["stores"]
    assert (request.node.get_closest_marker("backend") is not None) is (engine in SERVER_ENGINES)
    assert request.node.get_closest_marker("slow") is None


async def test_database_engines_are_marked_backend(request: pytest.FixtureRequest, database_stores: Stores) -> None:
    engine = request.node.callspec.params["database_stores"]
    assert (request.node.get_closest_marker("backend") is not None) is (engine in SERVER_ENGINES)
