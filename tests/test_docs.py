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
