"""A TCP proxy the fault tests control: forward, refuse (the server is
down), stall (the network swallows packets) or drop replies (the server
acts, its client never hears), on one loopback port."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit


class FaultProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.mode = "forward"
        self.requests = 0  # client→server reads: about one per round trip
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._marker = b""

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def down(self, mode: str = "refuse") -> None:
        """``refuse``: close the port and every connection; ``stall``: keep
        accepting, forward nothing."""
        self.mode = mode
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()
        if mode == "refuse" and self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def drop_replies(self, after: bytes = b"") -> None:
        """Forward every request, throw every answer away (connections stay
        open): a store that commits while its replies are lost. With
        ``after``, from the first request that contains those bytes on."""
        self.mode = "drop_replies" if not after else "armed"
        self._marker = after

    async def up(self) -> None:
        self.mode = "forward"
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()
        if self._server is None:
            await self.start()

    async def close(self) -> None:
        await self.down("refuse")
        for t in list(self._tasks):
            t.cancel()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        if self.mode == "stall":
            return  # stall: hold the connection open, answer nothing
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.add(up_writer)
        for src, dst, count in ((reader, up_writer, True), (up_reader, writer, False)):
            task = asyncio.create_task(self._pipe(src, dst, writer, up_writer, count))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter,
        a: asyncio.StreamWriter, b: asyncio.StreamWriter, count: bool,
    ) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await src.read(65536):
                self.requests += count
                if count and self.mode == "armed" and self._marker in data:
                    self.mode = "drop_replies"
                if not count and self.mode == "drop_replies":
                    continue
                dst.write(data)
                await dst.drain()
        for w in (a, b):
            w.transport.abort()


def via(url: str, port: int) -> str:
    """``url`` with its host and port replaced by the proxy's."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = (userinfo + "@" if userinfo else "") + f"127.0.0.1:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@contextlib.asynccontextmanager
async def in_front_of(url: str) -> AsyncIterator[tuple[FaultProxy, str]]:
    """A proxy started in front of the server ``url`` names, and ``url``
    through it; closed on the way out."""
    target = urlsplit(url)
    proxy = FaultProxy(target.hostname or "127.0.0.1", target.port or 0)
    await proxy.start()
    try:
        yield proxy, via(url, proxy.port)
    finally:
        await proxy.close()
