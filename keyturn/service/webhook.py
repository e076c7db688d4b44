"""Security events POSTed to ``KEYTURN_WEBHOOK_URL``, signed, retried, and
never in the way of a request.

Signature: header ``Keyturn-Signature: t=<unix seconds>,v1=<hex>`` where
``v1 = HMAC-SHA256(KEYTURN_WEBHOOK_SECRET, "<t>." ‖ body)`` — the timestamp
is signed with the body so a receiver can refuse old replays. Events wait
in a bounded queue drained by one background task; when the queue is full
an event is dropped (and logged), never blocking the request that caused it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
from typing import Any

import httpx
import orjson

from keyturn.clock import Clock

log = logging.getLogger("keyturn.webhook")
SIGNATURE_HEADER = "Keyturn-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(secret: str, header: str, body: bytes, *, now: float, tolerance: float = 300.0) -> bool:
    """For receivers: constant-time check of the signature and its age."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        ts = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs(now - ts) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, ts, body), f"t={ts},v1={parts.get('v1', '')}")


class WebhookSender:
    def __init__(
        self,
        url: str,
        secret: str,
        *,
        clock: Clock,
        queue_size: int = 1000,
        attempts: int = 5,
        base_delay: float = 0.5,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._url = url
        self._secret = secret
        self._clock = clock
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=queue_size)
        self._attempts = attempts
        self._base_delay = base_delay
        self._timeout = timeout
        self._transport = transport
        self._task: asyncio.Task[None] | None = None
        self.delivered = 0
        self.dropped = 0

    def submit(self, event: dict[str, Any]) -> bool:
        """Queue an event; False (and a log line) when the queue is full."""
        try:
            self._queue.put_nowait(orjson.dumps(event))
            return True
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("webhook queue full; dropped event %s", event.get("type"))
            return False

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="keyturn-webhook")

    async def close(self, drain: float = 2.0) -> None:
        """Give queued events a moment to go out, then stop."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(drain):
                await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        async with httpx.AsyncClient(transport=self._transport, timeout=self._timeout) as client:
            while True:
                body = await self._queue.get()
                try:
                    await self._deliver(client, body)
                finally:
                    self._queue.task_done()

    async def _deliver(self, client: httpx.AsyncClient, body: bytes) -> None:
        for attempt in range(self._attempts):
            ts = int(self._clock.now())
            headers = {"content-type": "application/json", SIGNATURE_HEADER: sign(self._secret, ts, body)}
            try:
                response = await client.post(self._url, content=body, headers=headers)
                if response.status_code < 300:
                    self.delivered += 1
                    return
                log.warning("webhook answered %s (attempt %d)", response.status_code, attempt + 1)
            except httpx.HTTPError as exc:
                log.warning("webhook failed: %s (attempt %d)", type(exc).__name__, attempt + 1)
            if attempt + 1 < self._attempts:
                await asyncio.sleep(self._base_delay * 2**attempt)
        self.dropped += 1
        log.error("webhook gave up on an event after %d attempts", self._attempts)
