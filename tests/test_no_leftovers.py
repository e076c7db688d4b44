"""Code and docs say why, not which ticket: no issue numbers, no "interim"."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LEFTOVER = re.compile(r"\bissue\s*#?\d+|\binterim\b", re.IGNORECASE)


def test_no_ticket_references_or_interim_notes() -> None:
    files = [p for d in ("keyturn", "tests", "bench", "docs") for p in (ROOT / d).rglob("*")
             if p.suffix in (".py", ".md", ".toml", ".lua") and p != Path(__file__)]
    files += [ROOT / "README.md", ROOT / "pyproject.toml"]
    found = [f"{p.relative_to(ROOT)}:{n}" for p in files if p.exists()
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if LEFTOVER.search(line)]
    assert found == []
