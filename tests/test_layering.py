"""Imports point inward: the core knows no web framework, driver or clock."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).parent.parent / "keyturn" / "core"
FORBIDDEN = {"fastapi", "starlette", "sqlalchemy", "redis", "httpx", "uvicorn", "asyncpg", "asyncmy", "aiosqlite", "time"}
ALLOWED_OURS = {"keyturn.core", "keyturn.errors", "keyturn.clock"}


@pytest.mark.parametrize("path", sorted(CORE.glob("*.py")), ids=lambda p: p.name)
def test_core_imports_point_inward(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        for name in names:
            assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"
            if name.startswith("keyturn"):
                assert any(name == a or name.startswith(a + ".") for a in ALLOWED_OURS), f"{path.name} imports {name}"
