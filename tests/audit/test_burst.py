"""The race's wire format: a request as HTTP/1.1 bytes and an answer read
back, chunked or not."""

from __future__ import annotations

import httpx
import pytest

from keyturn.audit.burst import parse, serialise


def test_a_request_becomes_one_closing_http11_message() -> None:
    request = httpx.Request("PATCH", "http://127.0.0.1:8080/reissue?x=1", headers={"Refresh": "tok"}, json={"a": 1})
    raw = serialise(request)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "PATCH /reissue?x=1 HTTP/1.1"
    assert "refresh: tok" in [line.lower() for line in lines] and "Connection: close" in lines
    assert f"Content-Length: {len(body)}" in lines
    assert body == request.content
    assert sum(1 for line in lines if line.lower().startswith("host:")) == 1


@pytest.mark.parametrize("raw", [
    b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 17\r\n\r\n{"refresh":"abc"}',
    b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n'
    b'9\r\n{"refresh\r\n8\r\n":"abc"}\r\n0\r\n\r\n',
])
def test_answers_are_read_back(raw: bytes) -> None:
    response = parse(raw, httpx.Request("POST", "http://127.0.0.1/"))
    assert response.status_code == 200
    assert response.json() == {"refresh": "abc"}


def test_a_garbled_answer_is_a_protocol_error() -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        parse(b"garbage\r\n\r\n", httpx.Request("POST", "http://127.0.0.1/"))
