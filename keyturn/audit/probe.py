"""The bounded, polite HTTP client every check goes through.

Bounded: a request budget and a time budget for the whole audit (a check
that would exceed either is skipped, not half-run), one short timeout per
request, no redirects followed. Polite: only loopback targets unless the
operator says they own the system, and no cookie jar (each call carries
exactly the credential the check means to present). Evidence passes through
:class:`Redactor`, so no full token and never the password reaches a report.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from urllib.parse import urljoin, urlsplit

import httpx

from keyturn.audit.pinning import PinnedBackend, loopback_addresses, pinned_transport

REQUEST_TIMEOUT = 10.0
CLEANUP_TIMEOUT = 3.0


class BudgetExhausted(Exception):
    """The request or time budget would be exceeded; the check is skipped."""


class NotAllowed(Exception):
    """The URL is not one the audit may talk to."""


def is_loopback(host: str) -> bool:
    """True when every address ``host`` names is a loopback address.

    Names are resolved (no HTTP request is made); a name that does not
    resolve is not loopback. Only an early answer for the command line: the
    probe resolves again and connects to what it checked (``pinning``)."""
    return bool(loopback_addresses(host))


class Redactor:
    """Shortens every secret the audit handled to a recognisable stub."""

    # Safety net for secrets nobody registered: anything JWT-shaped, keyturn
    # refresh tokens, and long opaque runs.
    _PATTERNS = (
        re.compile(r"[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
        re.compile(r"krt_[A-Za-z0-9_-]{6,}"),
        re.compile(r"[A-Za-z0-9_\-~+/=]{40,}"),
    )

    def __init__(self) -> None:
        self._secrets: dict[str, str] = {}

    def add_token(self, token: str) -> None:
        if len(token) >= 8:
            self._secrets[token] = stub(token)

    def add_password(self, password: str) -> None:
        if password:
            self._secrets[password] = "[password]"

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, self._secrets[secret])
        for pattern in self._PATTERNS:
            text = pattern.sub(lambda m: stub(m.group(0)), text)
        return text


def stub(token: str) -> str:
    """``eyJhbG…[412 chars]``: enough to tell tokens apart, never enough to use."""
    return f"{token[:6]}…[{len(token)} chars]"


class Probe:
    """An ``httpx.AsyncClient`` with a request budget and a deadline.

    ``reserve`` sets requests aside (to end the sessions the audit opened);
    ``send(..., reserved=True)`` spends them, after the deadline too.
    """

    def __init__(
        self,
        base_url: str,
        *,
        max_requests: int,
        seconds: float,
        allow_remote: bool = False,
        concurrency: int = 32,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_request: Callable[[str, str], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.max_requests = max_requests
        self.allow_remote = allow_remote
        self.clock = clock
        self.started = clock()
        self.deadline = self.started + seconds
        self.used = 0
        self.reserved = 0
        self.redact = Redactor()
        self.on_request = on_request
        # Every host, the target's too, is checked and pinned on first use:
        # connections go only to the addresses the check saw.
        self._allowed_hosts: set[str] = set()
        limits = httpx.Limits(max_connections=concurrency + 4, max_keepalive_connections=concurrency + 4)
        self._pins = PinnedBackend(strict=not allow_remote)
        if transport is None:
            transport = pinned_transport(self._pins, limits)
        self.client = httpx.AsyncClient(
            follow_redirects=False, limits=limits, transport=transport,
            headers={"user-agent": "keyturn-audit/1"}, timeout=REQUEST_TIMEOUT,
        )

    async def close(self) -> None:
        await self.client.aclose()

    def url(self, path_or_url: str) -> str:
        url = urljoin(self.base_url, path_or_url.lstrip("/")) if not path_or_url.startswith(("http://", "https://")) else path_or_url
        try:
            host = httpx.URL(url).raw_host.decode("ascii")  # as the connection names it (IDNA, lower case)
        except httpx.InvalidURL as exc:
            raise NotAllowed(f"{path_or_url!r} is not a URL the audit can use: {exc}") from None
        if host not in self._allowed_hosts:
            if not self.allow_remote:
                addresses = loopback_addresses(host)
                if not addresses:
                    raise NotAllowed(f"{host} is not on loopback (pass --i-own-this-system if it is yours)")
                self._pins.pin(host, addresses)
            self._allowed_hosts.add(host)
        return url

    def addresses(self, url: str) -> tuple[str, ...]:
        """The addresses a connection of our own to ``url``'s host may dial
        (checked and pinned by ``url``); ``NotAllowed`` for none."""
        try:
            return self._pins.addresses(httpx.URL(self.url(url)).raw_host.decode("ascii"))
        except LookupError as exc:
            raise NotAllowed(str(exc)) from None

    @property
    def https(self) -> bool:
        return self.base_url.startswith("https://")

    def seconds_left(self) -> float:
        return self.deadline - self.clock()

    def elapsed(self) -> float:
        return self.clock() - self.started

    def available(self) -> int:
        return self.max_requests - self.used - self.reserved

    def require(self, requests: int) -> None:
        """Refuse up front a check that cannot finish inside the budgets."""
        if requests > self.available():
            raise BudgetExhausted(f"needs {requests} requests, {max(0, self.available())} left in --max-requests")
        if self.seconds_left() <= 0:
            raise BudgetExhausted("the time budget is spent")

    def reserve(self, requests: int = 1) -> bool:
        if self.available() < requests:
            return False
        self.reserved += requests
        return True

    def release(self, requests: int = 1) -> None:
        self.reserved = max(0, self.reserved - requests)

    def build(
        self,
        method: str,
        path_or_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        json: object = None,
        data: Mapping[str, str] | None = None,
        content: bytes | None = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Request:
        """A request to send later (the race sends copies of one at once)."""
        return self.client.build_request(method, self.url(path_or_url), headers=dict(headers or {}), json=json,
                                         data=data, content=content, params=params)

    async def send(
        self,
        method: str,
        path_or_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        json: object = None,
        data: Mapping[str, str] | None = None,
        content: bytes | None = None,
        params: Mapping[str, str] | None = None,
        reserved: bool = False,
    ) -> httpx.Response:
        url = self.url(path_or_url)
        if reserved and self.reserved > 0:
            self.reserved -= 1
            timeout = CLEANUP_TIMEOUT
        else:
            if self.available() <= 0:
                raise BudgetExhausted(f"--max-requests ({self.max_requests}) reached")
            left = self.seconds_left()
            if left <= 0:
                raise BudgetExhausted("the time budget is spent")
            timeout = min(REQUEST_TIMEOUT, left)
        self.used += 1
        if self.on_request is not None:
            self.on_request(method, url)
        try:
            response = await self.client.request(
                method, url, headers=dict(headers or {}), json=json, data=data, content=content, params=params,
                timeout=timeout,
            )
        except httpx.TimeoutException:
            raise BudgetExhausted(f"{method} {urlsplit(url).path} did not answer within {timeout:.0f} s") from None
        finally:
            # No jar: a cookie the target sets must not ride along on the next
            # call unless a check presents it on purpose.
            self.client.cookies.clear()
        return response
