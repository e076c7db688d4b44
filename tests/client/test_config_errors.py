"""A TokenAuth set up wrong says so, for good: a URL without a scheme or one
that is not a keyturn service is a configuration error, never "the token
service cannot answer now, try again"."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from keyturn.client import ClientConfigError, TokenAuth, TokenServiceUnavailable

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("url", ["127.0.0.1:8000", "localhost", "ftp://auth.example", "https://"])
def test_a_base_url_that_is_no_http_url_is_refused_at_once(url: str) -> None:
    with pytest.raises(ClientConfigError, match="not an http\\(s\\) URL") as caught:
        TokenAuth(url, username="alice", password="pw")
    assert not isinstance(caught.value, TokenServiceUnavailable)


@pytest.mark.parametrize("status", [404, 405])
def test_a_url_that_is_not_a_token_service_is_a_configuration_error(status: int) -> None:
    service = httpx.MockTransport(lambda request: httpx.Response(status, text="Not Found"))
    auth = TokenAuth("http://auth.example/wrong-prefix", username="alice", password="pw", transport=service)
    api = httpx.MockTransport(lambda request: httpx.Response(200, json={}))
    with httpx.Client(auth=auth, transport=api) as http, pytest.raises(ClientConfigError) as caught:
        http.get("http://api.example/hello")
    assert caught.value.code == "not_a_token_service"
    assert "http://auth.example/wrong-prefix/auth/login" in str(caught.value) and str(status) in str(caught.value)


def test_a_503_is_still_temporary() -> None:
    service = httpx.MockTransport(lambda request: httpx.Response(503, json={"code": "store_unavailable"}))
    auth = TokenAuth("http://auth.example", username="alice", password="pw", transport=service)
    with httpx.Client(auth=auth, transport=service) as http, pytest.raises(TokenServiceUnavailable):
        http.get("http://api.example/hello")


@pytest.mark.parametrize(("env", "says"), [
    ({}, "Set KEYTURN_URL and RESOURCE_URL"),
    ({"KEYTURN_URL": "127.0.0.1:8000", "RESOURCE_URL": "http://127.0.0.1:9"}, "Check KEYTURN_URL"),
])
@pytest.mark.slow
def test_the_example_client_says_what_to_set_in_one_line(env: dict[str, str], says: str) -> None:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("KEYTURN_", "RESOURCE_"))}
    full.update({"PYTHONPATH": str(ROOT), **env})
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "client.py")], env=full, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith(says) and len(done.stderr.splitlines()) == 1
