"""What a check is handed: the target, the probe, the operator's knobs, and
results shared between checks so the audit spends fewer requests (one
sample login for every read-only check, one JWKS fetch, one race)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import httpx

from keyturn.audit.probe import Probe
from keyturn.audit.target import Session, Target, said

T = TypeVar("T")


@dataclass
class Context:
    target: Target
    concurrency: int = 16
    wrong_passwords: int = 15
    memo: dict[str, object] = field(default_factory=dict)

    @property
    def probe(self) -> Probe:
        return self.target.probe

    async def once(self, key: str, make: Callable[[], Awaitable[T]]) -> T:
        """``make()`` the first time ``key`` is asked for; the same value after.
        A failure is remembered too, so a second check does not pay for it again."""
        if key not in self.memo:
            try:
                self.memo[key] = await make()
            except Exception as exc:
                self.memo[key] = exc
        value = self.memo[key]
        if isinstance(value, Exception):
            raise value
        return value  # type: ignore[return-value]

    async def sample(self) -> Session:
        """One login shared by the checks that only read its tokens."""
        return await self.once("sample", self.target.login)

    async def baseline(self) -> str:
        """The real access token works at the resource; otherwise a refused
        forgery would prove nothing. Returns what the resource said."""

        async def run() -> str:
            session = await self.sample()
            assert session.access is not None
            response = await self.target.resource(session.access)
            if not 200 <= response.status_code < 300:
                raise BaselineFailed(f"the real access token got {said(response)} at the resource")
            return said(response)

        return await self.once("baseline", run)

    async def jwks(self) -> httpx.Response | None:
        url = self.target.profile.jwks
        if url is None:
            return None

        async def run() -> httpx.Response:
            return await self.probe.send("GET", url)

        return await self.once("jwks", run)


class BaselineFailed(Exception):
    """The protected resource refused the genuine token; forgery checks are moot."""
