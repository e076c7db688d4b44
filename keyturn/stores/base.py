"""The storage seams. Methods are named for what they do; the one that
matters most, ``rotate``, is a compare-and-set, so no caller can build a
check-then-act rotation on top of it.

Every engine raises ``keyturn.errors.StoreUnavailable`` when it cannot reach
its server, and nothing else for infrastructure faults.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from keyturn.core.sessions import Session
from keyturn.core.users import User
from keyturn.keys import StoredKey


class UserStore(Protocol):
    async def add_user(self, user: User) -> None:
        """Insert; raises ``UsernameTaken`` if the normalised name exists."""

    async def user_by_name(self, username: str) -> User | None: ...

    async def user_by_id(self, user_id: str) -> User | None: ...

    async def set_password_hash(self, user_id: str, password_hash: str) -> None: ...

    async def set_disabled(self, user_id: str, disabled: bool) -> bool:
        """Returns whether the user exists."""

    async def list_users(self, limit: int = 1000) -> list[User]: ...


class SessionStore(Protocol):
    async def create_session(self, session: Session, *, max_sessions: int, now: float) -> list[str]:
        """Insert ``session``; if the user would then have more than
        ``max_sessions`` live sessions (0 = unlimited), revoke the least
        recently used ones (reason ``evicted``) in the same atomic step.
        Returns the ids evicted."""

    async def get_session(self, session_id: str, *, user_id: str | None = None) -> Session | None:
        """The session, revoked or not, until purged. ``user_id`` is an
        optional hint (the owner, when the caller knows it): a session of
        another user is then reported as absent. On Redis it saves the
        session-id → owner lookup (one round trip instead of two)."""

    async def rotate(
        self,
        session_id: str,
        expected_generation: int,
        *,
        now: float,
        idle_expires_at: float,
        ip: str | None,
        user_agent: str | None,
        user_id: str | None = None,
    ) -> bool:
        """Atomically advance the session to ``expected_generation + 1`` iff it
        is at ``expected_generation``, not revoked and not idle-expired at
        ``now``. Exactly one of any number of concurrent callers wins.
        ``user_id``: the owner hint, as for ``get_session``."""

    async def revoke_session(
        self, session_id: str, *, now: float, reason: str, user_id: str | None = None
    ) -> bool:
        """Mark revoked (kept, so later reuse is still recognised). True if it
        was not revoked before. Committed on its own. ``user_id``: the owner
        hint, as for ``get_session``."""

    async def revoke_user(
        self, user_id: str, *, now: float, reason: str, keep: str | None = None
    ) -> list[str]:
        """Revoke every live session of the user but ``keep``; returns their ids."""

    async def list_sessions(self, user_id: str, *, now: float) -> list[Session]:
        """Live sessions of the user, most recently used first."""

    async def purge_expired(self, *, now: float) -> int:
        """Delete sessions past their absolute expiry (revoked or not: past
        that point no token of theirs can be presented as valid)."""

    async def list_all_sessions(self, *, now: float, limit: int = 1000) -> list[Session]:
        """Live sessions of every user (admin CLI; may scan)."""

    async def migrate(self) -> None: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class KeyStore(Protocol):
    async def list_keys(self) -> list[StoredKey]: ...

    async def add_key(self, key: StoredKey) -> None: ...

    async def add_first_key(self, key: StoredKey) -> bool:
        """Insert ``key`` unless an unretired key of its algorithm exists,
        as one serialised step, so replicas starting together on an empty
        database agree on one active key. True if inserted."""

    async def retire_keys_except(self, kid: str, now: float) -> int: ...


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    type: str
    at: float
    user_id: str | None = None
    session_id: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    detail: str = "{}"  # JSON object


class EventStore(Protocol):
    async def add_event(self, event: SecurityEvent) -> None: ...

    async def list_events(self, *, user_id: str | None = None, limit: int = 100) -> Sequence[SecurityEvent]: ...
