"""Imports point inward: the core knows no web framework, driver or clock;
each package imports only the packages its row of ``MAY_IMPORT`` names, so
the packages form one acyclic graph; no two keyturn modules import each
other, even through others; and the CLI never reaches into the HTTP layer.
ARCHITECTURE.md draws the same table."""

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


# The package-level rule: what each part of keyturn (a package, or a module at
# the top) may import of keyturn. Read a row as "imports only these". The
# light face (resource, client, adapters, verify, the root) stands on the
# pure base alone; nothing imports http, the edge.
BASE = {"errors", "clock", "store_urls", "logs"}
MAY_IMPORT: dict[str, set[str]] = {
    "errors": set(),
    "clock": set(),
    "store_urls": set(),  # the URL scheme table: config and stores both read it
    "logs": set(),
    "core": {"errors", "clock"},
    "config": {"errors", "store_urls"},
    "stores": {"core", "config"} | BASE,
    "service": {"core", "config", "stores"} | BASE,
    "http": {"core", "config", "stores", "service"} | BASE,
    "cli": {"core", "config", "stores", "service", "audit"} | BASE,
    "audit": {"core", "errors"},  # over HTTP only: tests/audit/test_layering.py narrows it further
    "resource": {"core", "errors", "clock"},
    "client": {"core", "errors", "clock"},
    "adapters": {"resource"},
    "verify": {"resource"},
    "keyturn": {"core", "errors", "clock"},  # keyturn/__init__.py: server names are imported lazily
    "__main__": {"cli"},
}


def _part(module: str) -> str:
    """``keyturn.stores.sql.hot`` -> ``stores``; ``keyturn`` -> ``keyturn``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


PARTS: dict[str, set[str]] = {}
for _module, _imported in GRAPH.items():
    PARTS.setdefault(_part(_module), set()).update(_part(m) for m in _imported)
for _name, _uses in PARTS.items():
    _uses.discard(_name)


def _cycle_from(start: str, edges: dict[str, set[str]]) -> list[str] | None:
    """A path ``start -> ... -> start`` along ``edges``, if there is one."""
    todo = [(start, [start])]
    seen: set[str] = set()
    while todo:
        node, path = todo.pop()
        for nxt in sorted(edges.get(node, ())):
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                todo.append((nxt, [*path, nxt]))
    return None


@pytest.mark.parametrize("module", sorted(MODULES))
def test_each_module_imports_only_what_its_package_may(module: str) -> None:
    part = _part(module)
    assert part in MAY_IMPORT, f"{module}: {part!r} is a new part of keyturn; give it a row in MAY_IMPORT"
    crossing = sorted(m for m in GRAPH[module] if _part(m) != part and _part(m) not in MAY_IMPORT[part])
    assert not crossing, f"{module} ({part}) imports {crossing}; {part} may import only {sorted(MAY_IMPORT[part])}"


@pytest.mark.parametrize("part", sorted(MAY_IMPORT))
def test_no_package_cycle(part: str) -> None:
    """The rule itself is acyclic, and so is the graph the code really has."""
    assert _cycle_from(part, MAY_IMPORT) is None, f"MAY_IMPORT has a cycle: {_cycle_from(part, MAY_IMPORT)}"
    assert _cycle_from(part, PARTS) is None, f"package cycle: {' -> '.join(_cycle_from(part, PARTS) or [])}"


def test_the_package_rules_can_fail() -> None:
    """A cycle and a forbidden edge are seen (the checks above would pass on
    an empty graph), and the table names no part that does not exist."""
    assert _cycle_from("a", {"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle_from("a", {"a": {"b"}, "b": {"c"}}) is None
    assert {"stores", "service", "http", "core"} <= PARTS["http"] | {"http"}
    assert set(MAY_IMPORT) == set(PARTS)


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
