"""The audit speaks to its target only over HTTP: nothing in keyturn.audit
imports the service, the stores, the HTTP app or the server's runtime, nor
anything beyond httpx (and its httpcore), PyJWT/cryptography, typer and the standard library."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

AUDIT = Path(__file__).resolve().parents[2] / "keyturn" / "audit"
OURS_ALLOWED = ("keyturn.audit", "keyturn.errors", "keyturn.core.tokens")
# httpcore is httpx's own transport, installed with it (audit/pinning.py dials through it).
THIRD_PARTY_ALLOWED = {"httpx", "httpcore", "jwt", "cryptography", "typer"}


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


@pytest.mark.parametrize("path", sorted(AUDIT.rglob("*.py")), ids=lambda p: str(p.relative_to(AUDIT)))
def test_audit_imports_only_what_any_deployment_allows(path: Path) -> None:
    for name in _imports(path):
        top = name.split(".")[0]
        if top == "keyturn":
            assert name.startswith(OURS_ALLOWED), f"{path.name} imports {name}"
        else:
            assert top in sys.stdlib_module_names or top in THIRD_PARTY_ALLOWED, f"{path.name} imports {name}"
