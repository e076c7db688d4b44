"""Imports point inward: the core knows no web framework, driver or clock;
no two keyturn modules import each other, even through others; and the CLI
never reaches into the HTTP layer."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "keyturn"
CORE = PACKAGE / "core"
FORBIDDEN = {"fastapi", "starlette", "sqlalchemy", "redis", "httpx", "uvicorn", "asyncpg", "asyncmy", "aiosqlite", "time"}
ALLOWED_OURS = {"keyturn.core", "keyturn.errors", "keyturn.clock"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path) -> set[str]:
    """The keyturn modules ``path`` imports, at any depth (a lazy import in a
    function still ties the modules), except under ``if TYPE_CHECKING``."""
    tree = ast.parse(path.read_text())
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for inner in ast.walk(node)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in MODULES else node.module)
    return {name for name in found if name in MODULES}


GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def _reachable(start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in GRAPH[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


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


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_cycle(module: str) -> None:
    assert module not in _reachable(module), f"{module} imports itself through {sorted(GRAPH[module])}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m == "keyturn.cli" or m.startswith("keyturn.cli.")))
def test_cli_never_imports_http(module: str) -> None:
    reached = sorted(m for m in _reachable(module) if m == "keyturn.http" or m.startswith("keyturn.http."))
    assert not reached, f"{module} reaches {reached}"


def test_the_graph_sees_imports() -> None:
    """The checks above would pass on an empty graph: make sure they do not."""
    assert "keyturn.service.tokens" in _reachable("keyturn.service.wiring")
    assert "keyturn.http.wire" in _reachable("keyturn.http.app")
