"""``TokenService`` is the documented API for use in process
(docs/adopt.md, "In process"): every public method is in that table, and
every name in the table is a method."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from keyturn.service.tokens import TokenService

ADOPT = Path(__file__).resolve().parents[2] / "docs" / "adopt.md"


def _documented() -> set[str]:
    text = ADOPT.read_text()
    table = text[text.index("`runtime.service` is a `TokenService`"):]
    table = table[: table.index("Its attributes are")]
    rows = [line.split("|")[2] for line in table.splitlines() if line.startswith("| ") and "methods" not in line]
    return {name for row in rows for name in re.findall(r"`(\w+)`", row)}


def test_every_public_method_of_the_service_is_documented() -> None:
    methods = {
        name for name, value in inspect.getmembers(TokenService, inspect.isfunction)
        if not name.startswith("_")
    }
    assert methods == _documented()
