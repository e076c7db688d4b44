"""/docs reads as documentation: each operation has a sentence for a summary
(not its function name, not reST markup) and a group other than "default"."""

from __future__ import annotations

import re

from tests.conftest import Api


async def test_every_operation_has_a_readable_summary_and_a_tag(api: Api) -> None:
    doc = (await api.client.get("/openapi.json")).json()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            where = f"{method.upper()} {path}"
            summary = op["summary"]
            assert summary != op["operationId"] and "_" not in summary.split()[0], where
            assert not re.search(r"``|:\w+:`", summary), where
            assert summary[0].isupper() or summary.startswith("RFC"), where
            assert op.get("tags") and op["tags"] != ["default"], where
    tags = {op["tags"][0] for ops in doc["paths"].values() for op in ops.values()}
    assert len(tags) >= 4
