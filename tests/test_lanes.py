"""The ``slow`` mark is honest: every test or fixture that starts a process
(``keyturn serve``, ``redis-server``, the ``keyturn`` command, another
interpreter, a browser) is in the slow lane, by its module's
``pytestmark``, its own ``@pytest.mark.slow``, or (fixtures)
``@lane("slow")``, which marks every test that uses it. A session-scoped
fixture starts its process once per run, not per test, and is exempt (the
Redis Cluster of the engine fixture)."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
# Calls that start a process: these names; the second set also as methods
# (``b.RedisServer(...)``, ``chromium.launch()``); and ``subprocess.run`` /
# ``Popen`` / ``check_output`` / ``call``. (``asyncio.start_server`` is a
# listener in this process, not a process.)
SPAWNS = {"start_server", "live_server"}
SPAWNS_ANYWHERE = {"RedisServer", "start_cluster", "create_subprocess_exec", "launch"}
SPAWNS_ON = {("subprocess", "run"), ("subprocess", "Popen"), ("subprocess", "check_output"), ("subprocess", "call")}
Function = ast.FunctionDef | ast.AsyncFunctionDef


def _calls(node: ast.AST) -> tuple[bool, set[str]]:
    """Whether ``node`` starts a process itself, and the bare names it calls."""
    direct, names = False, set()
    for call in ast.walk(node):
        if not isinstance(call, ast.Call):
            continue
        fn = call.func
        if isinstance(fn, ast.Name):
            names.add(fn.id)
            direct |= fn.id in SPAWNS | SPAWNS_ANYWHERE
        elif isinstance(fn, ast.Attribute):
            direct |= fn.attr in SPAWNS_ANYWHERE
            direct |= isinstance(fn.value, ast.Name) and (fn.value.id, fn.attr) in SPAWNS_ON
    return direct, names


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(TESTS.parent).with_suffix("").parts)


@functools.cache
def _modules() -> dict[Path, ast.Module]:
    return {p: ast.parse(p.read_text()) for p in sorted(TESTS.rglob("*.py"))}


def _spawning_helpers(modules: dict[Path, ast.Module]) -> set[tuple[str, str]]:
    """``(module, function)`` of the tests' own module-level functions that
    start a process, directly or through helpers they call by name (defined
    beside them or imported from another test module)."""
    calls: dict[tuple[str, str], tuple[bool, set[tuple[str, str]]]] = {}
    for path, tree in modules.items():
        here = _module_name(path)
        scope = {f.name: (here, f.name) for f in tree.body if isinstance(f, Function)}
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tests"):
                scope.update({a.asname or a.name: (node.module, a.name) for a in node.names})
        for f in tree.body:
            if isinstance(f, Function):
                direct, names = _calls(f)
                calls[(here, f.name)] = (direct, {scope[n] for n in names if n in scope})
    spawning = {key for key, (direct, _) in calls.items() if direct}
    grew = True
    while grew:
        grew = False
        for key, (_, callees) in calls.items():
            if key not in spawning and callees & spawning:
                spawning.add(key)
                grew = True
    return spawning


def _spawns(fn: Function, module: str, tree: ast.Module, spawning: set[tuple[str, str]]) -> bool:
    direct, names = _calls(fn)
    scope = {f.name: (module, f.name) for f in tree.body if isinstance(f, Function)}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tests"):
            scope.update({a.asname or a.name: (node.module, a.name) for a in node.names})
    return direct or any(scope.get(n) in spawning for n in names)


def _decorators(fn: Function) -> list[str]:
    return [ast.unparse(d) for d in fn.decorator_list]


def _is_fixture(fn: Function) -> bool:
    return any(d.startswith(("pytest.fixture", "fixture")) for d in _decorators(fn))


def _marked_slow(fn: Function) -> bool:
    return any(d == "pytest.mark.slow" or (d.startswith("lane(") and "'slow'" in d) for d in _decorators(fn))


def _session_scoped(fn: Function) -> bool:
    return any(d.startswith("pytest.fixture(") and "scope='session'" in d for d in _decorators(fn))


def _module_slow(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets)
        and "pytest.mark.slow" in ast.unparse(node.value)
        for node in tree.body
    )


def unmarked_spawners(modules: dict[Path, ast.Module]) -> list[str]:
    """``path::name`` of each test or fixture that starts a process outside the slow lane."""
    spawning = _spawning_helpers(modules)
    found = []
    for path, tree in modules.items():
        module_slow = _module_slow(tree) and path.name.startswith("test_")
        for fn in ast.walk(tree):
            if not isinstance(fn, Function) or not (fn.name.startswith("test_") or _is_fixture(fn)):
                continue
            if module_slow or _marked_slow(fn) or _session_scoped(fn):
                continue
            if _spawns(fn, _module_name(path), tree, spawning):
                found.append(f"{path.relative_to(TESTS)}::{fn.name}")
    return found


def test_every_test_that_starts_a_process_is_slow() -> None:
    assert unmarked_spawners(_modules()) == []


def test_the_check_sees_a_process() -> None:
    """It would pass on a check that sees nothing: show it does not."""
    code = '''
import subprocess
import pytest

def helper():
    return subprocess.run(["true"])

@pytest.fixture
def spawning():
    yield helper()

@pytest.fixture
@lane("slow")
def tagged():
    yield start_server(None)

def test_direct():
    helper()

@pytest.mark.slow
def test_marked():
    helper()

def test_in_process():
    assert 1 + 1 == 2
'''
    found = unmarked_spawners({TESTS / "test_example.py": ast.parse(code)})
    assert found == ["test_example.py::spawning", "test_example.py::test_direct"]
    assert unmarked_spawners({TESTS / "test_example.py": ast.parse("pytestmark = pytest.mark.slow\n" + code)}) == []


@pytest.mark.parametrize("name", ["server", "redis_server", "live", "seed", "keyturn_on"])
def test_the_process_fixtures_are_known_spawners(name: str) -> None:
    """The fixtures the lanes rely on are still seen as starting a process."""
    modules = _modules()
    spawning = _spawning_helpers(modules)
    fixtures = [
        (path, tree, fn) for path, tree in modules.items() for fn in tree.body
        if isinstance(fn, Function) and fn.name == name and _is_fixture(fn)
    ]
    assert fixtures, f"no fixture {name!r}"
    for path, tree, fn in fixtures:
        assert _spawns(fn, _module_name(path), tree, spawning), f"{path.name}::{name} is not seen starting a process"
        assert _marked_slow(fn) or _module_slow(tree), f"{path.name}::{name} is not in the slow lane"
