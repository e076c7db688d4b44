"""Last-byte synchronisation: N requests that reach the server together.

Sent one after another, even from ``asyncio.gather``, requests leave a
Python client about a millisecond apart — wider than the read-to-write
window of a GET-compare-SET refresh, so a real race goes unseen. Here each
request gets its own connection, everything but its final byte is sent
first, and then the final bytes go out in one tight loop: the server sees N
complete requests within microseconds (the "single-packet" technique)."""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urlsplit

import httpx

from keyturn.audit.probe import BudgetExhausted, Probe

HOLD = 1  # bytes held back until every connection is primed


def serialise(request: httpx.Request) -> bytes:
    """The request as HTTP/1.1 bytes, on a connection that closes after it."""
    url = request.url
    target = url.raw_path.decode("ascii")
    lines = [f"{request.method} {target} HTTP/1.1"]
    body = request.content
    seen = set()
    for name, value in request.headers.multi_items():
        lower = name.lower()
        if lower in ("connection", "transfer-encoding", "content-length"):
            continue
        seen.add(lower)
        lines.append(f"{name}: {value}")
    if "host" not in seen:
        lines.append(f"Host: {url.netloc.decode('ascii')}")
    lines += [f"Content-Length: {len(body)}", "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def parse(raw: bytes, request: httpx.Request) -> httpx.Response:
    """Status, headers and body of one HTTP/1.1 answer read to EOF."""
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise httpx.RemoteProtocolError("malformed status line", request=request)
    headers = [tuple(line.split(":", 1)) for line in header_lines if ":" in line]
    pairs = [(k.strip(), v.strip()) for k, v in headers]
    if any(k.lower() == "transfer-encoding" and "chunked" in v.lower() for k, v in pairs):
        body = _unchunk(body)
        pairs = [(k, v) for k, v in pairs if k.lower() != "transfer-encoding"]
    return httpx.Response(int(parts[1]), headers=pairs, content=body, request=request)


def _unchunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2:]
    return bytes(out)


async def burst(probe: Probe, request: httpx.Request, n: int) -> list[httpx.Response]:
    """Send ``request`` ``n`` times so that all copies arrive together.

    A connection reset spoils the race (the copies no longer arrive
    together), so it is run once more if the budget allows."""
    try:
        return await _burst(probe, request, n)
    except ConnectionError:
        if probe.available() < n:
            raise httpx.ConnectError("a connection was reset during the concurrent requests", request=request) from None
    try:
        return await _burst(probe, request, n)
    except ConnectionError as exc:
        raise httpx.ConnectError(f"{type(exc).__name__}: {exc}", request=request) from None


async def _burst(probe: Probe, request: httpx.Request, n: int) -> list[httpx.Response]:
    if probe.available() < n:
        raise BudgetExhausted(f"needs {n} requests, {max(0, probe.available())} left in --max-requests")
    url = probe.url(str(request.url))
    address = probe.addresses(url)[0]  # the pinned address, never a fresh lookup
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    context = ssl.create_default_context() if parts.scheme == "https" else None
    payload = serialise(request)
    if probe.seconds_left() <= 0:
        raise BudgetExhausted("the time budget is spent")
    timeout = max(1.0, min(10.0, probe.seconds_left()))
    streams: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        async with asyncio.timeout(timeout):
            for _ in range(n):
                streams.append(await asyncio.open_connection(
                    address, port, ssl=context, server_hostname=parts.hostname if context else None))
            probe.used += n
            if probe.on_request is not None:
                probe.on_request(request.method, url)
            for _, writer in streams:
                writer.write(payload[:-HOLD])
            await asyncio.gather(*(writer.drain() for _, writer in streams))
            await asyncio.sleep(0.05)  # let the server read up to the held byte
            for _, writer in streams:
                writer.write(payload[-HOLD:])
            raws = await asyncio.gather(*(reader.read() for reader, _ in streams))
    except TimeoutError:
        raise BudgetExhausted(f"the concurrent requests did not finish within {timeout:.0f} s") from None
    except ConnectionError:
        raise
    except OSError as exc:
        raise httpx.ConnectError(f"{type(exc).__name__}: {exc}", request=request) from None
    finally:
        for _, writer in streams:
            writer.close()
    return [parse(raw, request) for raw in raws]
