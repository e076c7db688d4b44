"""``TokenAuth``: an ``httpx.Auth`` that logs in, attaches the bearer token,
refreshes *before* expiry, and does it single-flight.

* Scheduling uses the answer's relative ``expires_in`` against the local
  monotonic clock at receipt, so a skewed clock on either side does not
  matter; a little jitter spreads many clients.
* Single-flight: however many requests (threads or tasks) are in the air,
  one refresh happens; the others wait and re-check after it. A rotating
  server with a zero grace window would take a second refresh with the same
  token as theft and end the session (docs/concepts.md, "Reuse detection").
* Across processes (``FileStorage``): a file lock around the refresh, and the
  file is re-read under it — if another process already rotated, we adopt
  its tokens instead of refreshing with our now-dead one.
* 401 ``token_expired`` or ``signing_key_revoked`` (the key that signed the
  token was revoked; the session is fine): refresh once, retry once. A refresh refused for
  good (``refresh_token_reused``, ``session_revoked``,
  ``refresh_token_expired``, …) raises ``SessionEnded`` — never a loop.

The locks are held around our own refresh call, never across the auth
flow's ``yield`` (the generator may resume in another task).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any, ContextManager, Protocol

import httpx

from keyturn.client.dpop import ClientKey, DpopState, NoDpop
from keyturn.client.storage import FileStorage, MemoryStorage, Tokens, TokenStorage

__all__ = [
    "ClientConfigError", "ClientError", "FileStorage", "LoginFailed", "MemoryStorage", "SessionEnded", "TokenAuth",
    "TokenServiceUnavailable", "TokenStorage", "Tokens",
]

log = logging.getLogger("keyturn.client")
RETRY_AFTER_FAILURE = 1.0


class ClientError(Exception):
    """Base of the client's errors; ``code`` is the service's stable code."""

    def __init__(self, code: str, description: str = "") -> None:
        self.code = code
        super().__init__(f"{code}: {description}" if description else code)


class SessionEnded(ClientError):
    """The session is over (revoked, reused, expired, …): only a new login helps."""


class LoginFailed(ClientError):
    """The credentials were refused (``invalid_credentials``) or none were given."""


class TokenServiceUnavailable(ClientError):
    """The token service could not answer now (429, 5xx, network); tokens are kept."""


class ClientConfigError(ClientError, ValueError):
    """The client is set up wrong: a ``base_url`` that is no http(s) URL, or
    that is not a keyturn service (404/405 from its login or refresh path).
    Permanent: retrying will not help, fixing the URL will."""


class TimeSource(Protocol):
    def monotonic(self) -> float: ...

    def time(self) -> float: ...


class SystemTime:
    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()


@dataclass(frozen=True, slots=True)
class _Held:
    tokens: Tokens
    refresh_at: float  # monotonic
    expires_at: float  # monotonic


# 401 codes after which a refresh helps (every other 401 is final).
REFRESH_HELPS = frozenset({"token_expired", "signing_key_revoked"})

def _code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return "server_error"
    if isinstance(body, dict) and isinstance(body.get("detail"), dict):
        body = body["detail"]  # FastAPI's HTTPException shape
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, str) else "server_error"


class TokenAuth(httpx.Auth):
    """``httpx.Client(auth=TokenAuth(base_url, username=..., password=...))``.

    Works with ``httpx.Client`` and ``httpx.AsyncClient`` (one event loop at
    a time). ``on_refresh(tokens)`` is called after each login or refresh.
    """

    requires_request_body = True  # so the one retry can resend the body

    def __init__(
        self,
        base_url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        tokens: Tokens | Mapping[str, Any] | None = None,
        storage: TokenStorage | None = None,
        on_refresh: Callable[[Tokens], None] | None = None,
        leeway: float = 30.0,
        clock: TimeSource | None = None,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        dpop: bool = False,
        dpop_alg: str = "ES256",
    ) -> None:
        self.base_url = _checked_base_url(base_url)
        self._username = username
        self._password = password
        self.storage: TokenStorage = storage or MemoryStorage()
        self.on_refresh = on_refresh
        self.leeway = leeway
        self.clock: TimeSource = clock or SystemTime()
        self._timeout = timeout
        self._transport = transport
        self._async_transport = async_transport
        # RFC 9449: a key per login, kept with the tokens (keyturn.client.dpop).
        self._dpop: DpopState | NoDpop = DpopState(dpop_alg, clock=self.clock.time) if dpop else NoDpop()
        self._lock = threading.Lock()
        self._alock: asyncio.Lock | None = None
        self._alock_loop: asyncio.AbstractEventLoop | None = None
        self._held: _Held | None = None
        if tokens is not None:
            given = tokens if isinstance(tokens, Tokens) else Tokens.from_answer(tokens, obtained_at=self.clock.time())
            self.storage.save(given)
            self._held = self._schedule(given)

    @property
    def tokens(self) -> Tokens | None:
        return self._held.tokens if self._held else None

    # --- scheduling -------------------------------------------------------------

    def _schedule(self, tokens: Tokens) -> _Held:
        mono = self.clock.monotonic()
        expires = mono + (tokens.expires_at - self.clock.time())
        lead = min(self.leeway, tokens.expires_in / 4)
        return _Held(tokens, expires - lead - random.uniform(0, lead / 2), expires)

    def _fresh(self, held: _Held | None) -> bool:
        return held is not None and self.clock.monotonic() < held.refresh_at

    def _still_valid(self, held: _Held | None) -> bool:
        return held is not None and self.clock.monotonic() < held.expires_at

    def _backoff(self, held: _Held) -> None:
        self._held = _Held(held.tokens, self.clock.monotonic() + RETRY_AFTER_FAILURE, held.expires_at)

    # --- httpx.Auth -----------------------------------------------------------------

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        used = self._valid_sync()
        self._dpop.authorize(request, used)
        response = yield request
        if self._dpop.wants_body(response):
            response.read()
        if self._dpop.retry_with_nonce(str(request.url), response):
            self._dpop.authorize(request, used)  # RFC 9449 §9: once more, with the nonce
            response = yield request
        if response.status_code == 401:
            response.read()
            if _code(response) in REFRESH_HELPS:
                fresh = self._after_expired_sync(used)
                self._dpop.authorize(request, fresh)
                yield request

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        used = await self._valid_async()
        self._dpop.authorize(request, used)
        response = yield request
        if self._dpop.wants_body(response):
            await response.aread()
        if self._dpop.retry_with_nonce(str(request.url), response):
            self._dpop.authorize(request, used)
            response = yield request
        if response.status_code == 401:
            await response.aread()
            if _code(response) in REFRESH_HELPS:
                fresh = await self._after_expired_async(used)
                self._dpop.authorize(request, fresh)
                yield request

    # --- token calls ---------------------------------------------------------------------

    def _token_call_sync(self, http: httpx.Client, path: str, body: dict[str, str], key: ClientKey | None) -> httpx.Response:
        """POST to the service, with a proof when DPoP is on; once more with
        the nonce a ``use_dpop_nonce`` answer carried (RFC 9449 §8)."""
        url = self.base_url + path
        response = http.post(path, json=body, headers=self._dpop.post_headers(key, url))
        if self._dpop.retry_with_nonce(url, response):
            response = http.post(path, json=body, headers=self._dpop.post_headers(key, url))
        return response

    async def _token_call_async(
        self, http: httpx.AsyncClient, path: str, body: dict[str, str], key: ClientKey | None,
    ) -> httpx.Response:
        url = self.base_url + path
        response = await http.post(path, json=body, headers=self._dpop.post_headers(key, url))
        if self._dpop.retry_with_nonce(url, response):
            response = await http.post(path, json=body, headers=self._dpop.post_headers(key, url))
        return response

    def _session_key(self, stale: Tokens | None) -> ClientKey | None:
        """The key for this login (a new one) or refresh (the stored one)."""
        return self._dpop.session_key(stale.dpop_key if stale else None, login=stale is None)

    # --- sync single-flight ------------------------------------------------------------

    def _valid_sync(self) -> Tokens:
        held = self._held
        if held is not None and self._fresh(held):
            return held.tokens
        with self._lock:
            held = self._held  # re-check: someone may have refreshed while we waited
            if held is not None and self._fresh(held):
                return held.tokens
            try:
                with self.storage.lock():
                    return self._renew_sync(held.tokens if held else None, force=False)
            except TokenServiceUnavailable:
                if held is not None and self._still_valid(held):
                    self._backoff(held)  # keep serving the still-valid token
                    return held.tokens
                raise

    def _after_expired_sync(self, used: Tokens) -> Tokens:
        with self._lock:
            held = self._held
            if held is not None and held.tokens.access_token != used.access_token:
                return held.tokens  # another request already renewed
            with self.storage.lock():
                return self._renew_sync(used, force=True)

    def _renew_sync(self, stale: Tokens | None, *, force: bool) -> Tokens:
        """Under both locks: adopt newer stored tokens, else refresh or log in."""
        stored = self.storage.load()
        adopted = self._adopt(stored, stale, force)
        if adopted is not None:
            return adopted
        stale = stored or stale  # newer stored tokens that are already due: refresh those
        key = self._session_key(stale)
        with httpx.Client(base_url=self.base_url, transport=self._transport, timeout=self._timeout) as http:
            if stale is None:
                response = self._send(lambda: self._token_call_sync(http, "/auth/login", self._credentials(), key))
            else:
                body = {"refresh_token": stale.refresh_token}
                response = self._send(lambda: self._token_call_sync(http, "/auth/refresh", body, key))
        return self._accept(response, stale, key)

    # --- async single-flight -------------------------------------------------------------

    def _async_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._alock is None or self._alock_loop is not loop:
            self._alock, self._alock_loop = asyncio.Lock(), loop
        return self._alock

    async def _valid_async(self) -> Tokens:
        held = self._held
        if held is not None and self._fresh(held):
            return held.tokens
        async with self._async_lock():
            held = self._held
            if held is not None and self._fresh(held):
                return held.tokens
            try:
                async with _acquired(self.storage.lock()):
                    return await self._renew_async(held.tokens if held else None, force=False)
            except TokenServiceUnavailable:
                if held is not None and self._still_valid(held):
                    self._backoff(held)
                    return held.tokens
                raise

    async def _after_expired_async(self, used: Tokens) -> Tokens:
        async with self._async_lock():
            held = self._held
            if held is not None and held.tokens.access_token != used.access_token:
                return held.tokens
            async with _acquired(self.storage.lock()):
                return await self._renew_async(used, force=True)

    async def _renew_async(self, stale: Tokens | None, *, force: bool) -> Tokens:
        stored = self.storage.load()
        adopted = self._adopt(stored, stale, force)
        if adopted is not None:
            return adopted
        stale = stored or stale  # newer stored tokens that are already due: refresh those
        async with httpx.AsyncClient(
            base_url=self.base_url, transport=self._async_transport, timeout=self._timeout
        ) as http:
            key = self._session_key(stale)
            try:
                if stale is None:
                    response = await self._token_call_async(http, "/auth/login", self._credentials(), key)
                else:
                    body = {"refresh_token": stale.refresh_token}
                    response = await self._token_call_async(http, "/auth/refresh", body, key)
            except httpx.TransportError as exc:
                raise TokenServiceUnavailable("network_error", str(exc)) from exc
        return self._accept(response, stale, key)

    # --- shared steps (no I/O but the storage file) ------------------------------------

    def _adopt(self, stored: Tokens | None, stale: Tokens | None, force: bool) -> Tokens | None:
        """Newer tokens in the storage (another process, or an earlier run)?
        Take them rather than refresh with a token that may be dead."""
        if stored is None or (stale is not None and stored.refresh_token == stale.refresh_token):
            return None
        held = self._schedule(stored)
        if force or self._fresh(held):
            self._held = held
            return stored
        return None

    def _credentials(self) -> dict[str, str]:
        if self._username is None or self._password is None:
            raise LoginFailed("no_tokens", "no tokens and no credentials to log in with")
        return {"username": self._username, "password": self._password}

    def _send(self, call: Callable[[], httpx.Response]) -> httpx.Response:
        try:
            return call()
        except httpx.TransportError as exc:
            raise TokenServiceUnavailable("network_error", str(exc)) from exc

    def _accept(self, response: httpx.Response, used: Tokens | None, key: ClientKey | None = None) -> Tokens:
        if response.status_code == 200:
            try:
                tokens = Tokens.from_answer(response.json(), obtained_at=self.clock.time())
            except ValueError as exc:
                raise TokenServiceUnavailable("server_error", "unreadable token answer") from exc
            if key is not None:
                # Saved with the tokens: same file, same mode, same lock.
                tokens = dataclasses.replace(tokens, dpop_key=used.dpop_key if used and used.dpop_key else key.to_json())
            self.storage.save(tokens)
            self._held = self._schedule(tokens)
            if self.on_refresh is not None:
                self.on_refresh(tokens)
            return tokens
        code = _code(response)
        if response.status_code in (404, 405):
            raise ClientConfigError(
                "not_a_token_service", f"{response.request.url} answered {response.status_code}: "
                "base_url must be the keyturn service's root (the URL /auth/login is under)")
        if response.status_code in (400, 401, 403):
            if used is None:
                raise LoginFailed(code, "the login was refused")
            # Dead for good. The storage holds exactly `used` (we read it under
            # the lock), so clearing it cannot erase another process's tokens.
            self._held = None
            self.storage.clear()
            raise SessionEnded(code, "log in again")
        raise TokenServiceUnavailable(code, f"the token service answered {response.status_code}")


def _checked_base_url(url: str) -> str:
    parts = httpx.URL(url) if "://" in url else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.host:
        raise ClientConfigError("invalid_base_url", f"{url!r} is not an http(s) URL: write https://auth.example.com")
    return url.rstrip("/")


class _acquired:
    """``async with`` over a blocking lock, acquired in a worker thread so the
    event loop never blocks on another process's refresh."""

    def __init__(self, lock: ContextManager[Any]) -> None:
        self._lock = lock

    async def __aenter__(self) -> None:
        await asyncio.to_thread(self._lock.__enter__)

    async def __aexit__(self, *exc: object) -> None:
        self._lock.__exit__(None, None, None)
