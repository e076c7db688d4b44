"""The docs cannot drift: generated sections are current, links resolve."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.routing import Route

from keyturn.cli.docgen import BEGIN, END, error_codes_markdown, render
from keyturn.config import Settings
from keyturn.errors import ALL_CODES
from keyturn.http.app import create_app
from keyturn.service.wiring import build_runtime

ROOT = Path(__file__).resolve().parents[1]


def test_error_code_table_is_current() -> None:
    text = (ROOT / "docs" / "http-api.md").read_text()
    assert render(text) == text, "run `python -m keyturn.cli.docgen` and commit docs/http-api.md"


@pytest.mark.parametrize("code", ALL_CODES)
def test_every_code_is_documented(code: str) -> None:
    section = (ROOT / "docs" / "http-api.md").read_text().split(BEGIN)[1].split(END)[0]
    assert f"| `{code}` |" in section


def test_render_rejects_a_document_without_markers() -> None:
    with pytest.raises(ValueError):
        render("# no markers")
    assert error_codes_markdown().count("\n") == len(ALL_CODES) + 1


@pytest.mark.parametrize("doc", ["README.md", *(f"docs/{p.name}" for p in sorted((ROOT / "docs").glob("*.md")))])
def test_relative_links_resolve(doc: str) -> None:
    path = ROOT / doc
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", path.read_text()):
        assert (path.parent / target).exists(), f"{doc} links to missing {target}"


# A document named anywhere in the repository: ``docs/engines.md``,
# ``concepts.md#rotation``, ``ARCHITECTURE.md``. Not inside a URL (a name
# right after ``/`` or a word character is part of something longer).
DOCUMENT_NAME = re.compile(r"(?<![\w./-])((?:[\w.-]+/)*[\w-]+\.md)\b")
SCANNED_DIRS = ("keyturn", "tests", "docs", "bench", "examples", "clients", ".ci")
SCANNED_SUFFIXES = {".py", ".md", ".toml", ".sh", ".js", ".mjs", ".ts", ".html", ".txt", ".ini", ".cfg", ""}
SKIPPED_DIRS = {"node_modules", "__pycache__", ".mypy_cache", ".pytest_cache", ".hypothesis", ".ci-venv"}


def _scanned_files() -> list[Path]:
    found = [p for p in ROOT.glob("*") if p.is_file() and p.suffix in {".md", ".toml"}]
    for top in SCANNED_DIRS:
        for path in sorted((ROOT / top).rglob("*")):
            if path.is_file() and path.suffix in SCANNED_SUFFIXES and not SKIPPED_DIRS & set(path.parts):
                found.append(path)
    return found


def _documents() -> set[str]:
    return {
        p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*.md")
        if not SKIPPED_DIRS & set(p.parts) and ".git" not in p.parts
    }


def missing_documents(path: Path, text: str, documents: set[str]) -> list[str]:
    """The ``*.md`` names in ``text`` that name no document: neither one
    beside ``path`` nor one of ``documents`` (paths from the root) that the
    name ends (code builds ``ROOT / "docs" / "engines.md"``)."""
    return [
        name for name in DOCUMENT_NAME.findall(text)
        if not (path.parent / name).exists()
        and not any(doc == name or doc.endswith("/" + name) for doc in documents)
    ]


def test_every_document_named_exists() -> None:
    """Code, tests and docs name only documents the repository has (a name
    of a document kept elsewhere is a reference no reader can follow)."""
    documents = _documents()
    missing = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in _scanned_files()
        for name in missing_documents(path, path.read_text(errors="replace"), documents)
    ]
    assert missing == []


def test_a_missing_document_is_seen() -> None:
    absent = "NOWHERE" + ".md"
    text = f"see {absent}, docs/{absent} and docs/engines.md; not https://example.com/{absent}"
    documents = _documents()
    assert "docs/engines.md" in documents
    assert missing_documents(ROOT / "keyturn" / "x.py", text, documents) == [absent, f"docs/{absent}"]
    assert missing_documents(ROOT / "docs" / "concepts.md", "[engines](engines.md#pools)", documents) == []
    assert missing_documents(ROOT / "tests" / "x.py", 'ROOT / "docs" / "engines.md"', documents) == []
    assert len(_scanned_files()) > 100


def test_concepts_has_a_sequence_diagram() -> None:
    text = (ROOT / "docs" / "concepts.md").read_text()
    assert "```mermaid\nsequenceDiagram" in text


def test_every_route_is_in_the_http_api_doc(settings: Settings) -> None:
    """Every method and path the app answers is in docs/http-api.md's table."""
    app = create_app(runtime=build_runtime(settings))
    text = (ROOT / "docs" / "http-api.md").read_text()
    served = [(method, route.path) for route in app.routes if isinstance(route, Route)
              for method in sorted(route.methods or ()) if method != "HEAD"]
    assert len(served) >= 20
    missing = [f"{method} {path}" for method, path in served if f"| `{method} {path}` |" not in text]
    assert missing == []
