"""The oauth4webapi example in docs/http-api.md, run verbatim against a real
keyturn: the doc and the test cannot drift (RFC 8414 §3, RFC 6749 §6,
RFC 7009 §2)."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.interop.conftest import BOUND, HERE, Deployment

pytestmark = pytest.mark.slow
DOC = Path(__file__).resolve().parents[2] / "docs" / "http-api.md"


def example() -> str:
    """The ```js block right after the ``<!-- interop-example -->`` marker."""
    found = re.search(r"<!-- interop-example -->\n```js\n(.*?)\n```", DOC.read_text(), re.S)
    assert found, "docs/http-api.md lost its oauth4webapi example"
    return found.group(1) + "\n"


def test_the_example_is_about_fifteen_lines() -> None:
    code = [line for line in example().splitlines() if line.strip() and not line.strip().startswith("//")]
    assert len(code) <= 16


def test_the_docs_oauth4webapi_example_runs(deployment: Deployment) -> None:
    tokens = deployment.login()
    script = HERE / f".doc-example-{secrets.token_hex(4)}.mjs"  # here, so node finds node_modules
    script.write_text(example())
    try:
        env = {**os.environ, "KEYTURN_ISSUER": deployment.url, "KEYTURN_INSECURE": "1",
               "KEYTURN_REFRESH_TOKEN": tokens["refresh_token"]}
        done = subprocess.run(["node", str(script)], cwd=HERE, env=env, capture_output=True, text=True, timeout=BOUND)
    finally:
        script.unlink()
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["user"]["username"] == "alice" and out["expires_in"] > 0
    # It signed out: the session is over.
    r = httpx.post(deployment.url + "/auth/refresh", json={"refresh_token": tokens["refresh_token"]}, timeout=BOUND)
    assert r.status_code == 401 and r.json()["code"] in ("session_revoked", "refresh_token_reused")
