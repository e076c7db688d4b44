"""The storage seams. Methods are named for what they do; the one that
matters most, ``rotate``, is a compare-and-set, so no caller can build a
check-then-act rotation on top of it.

Every engine raises ``keyturn.errors.StoreUnavailable`` when it cannot reach
its server, and nothing else for infrastructure faults.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from keyturn.core.sessions import Session
from keyturn.core.throttle import Counter
from keyturn.core.users import User


class Lifecycle(Protocol):
    """What every engine (one database or server) does besides storing."""

    async def migrate(self) -> None: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class UserStore(Protocol):
    async def add_user(self, user: User) -> None:
        """Insert; raises ``UsernameTaken`` if the normalised name exists."""

    async def add_users(self, users: Sequence[User]) -> None:
        """Insert all of ``users`` or none (one transaction): raises
        ``UsernameTaken`` if any normalised name exists (an import is all
        or nothing)."""

    async def user_by_name(self, username: str) -> User | None: ...

    async def user_by_id(self, user_id: str) -> User | None: ...

    async def users_by_names(self, usernames: Sequence[str]) -> list[User]:
        """The users among these normalised names, in no particular order:
        an import checks thousands of names in a few round trips."""

    async def set_password_hash(self, user_id: str, password_hash: str) -> None: ...

    async def upgrade_password_hash(self, user_id: str, *, verified: str, new: str) -> bool:
        """Replace the hash only if it is still ``verified`` (compare-and-set),
        in one atomic step; returns whether it was replaced. A login that
        re-hashes the password it checked must never write it back over a
        password change that landed in between."""

    async def set_disabled(self, user_id: str, disabled: bool) -> bool:
        """Returns whether the user exists."""

    async def list_users(self, limit: int = 1000) -> list[User]: ...

    async def set_claims(self, user_id: str, claims: dict[str, Any], scope: str | None) -> bool:
        """Replace the user's claims and scope; returns whether the user
        exists. The caller also hands them to ``SessionStore.set_grants``."""


@dataclass(frozen=True, slots=True)
class Rotated:
    """A won compare-and-set, with what the rotate statement (or script)
    read in the same step: the user's claims and scope as stored now
    (``Grants.encode``, ``None`` when none were ever stored)."""

    grants: str | None = None


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
        to_generation: int | None = None,
    ) -> Rotated | None:
        """Atomically advance the session to ``to_generation`` (default
        ``expected_generation + 1``; ``+ 2`` heals a lost rotation) iff it
        is at ``expected_generation``, not revoked and not idle-expired at
        ``now``. Exactly one of any number of concurrent callers wins (and
        gets a ``Rotated``; the others ``None``). ``user_id``: the owner
        hint, as for ``get_session``."""

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

    async def credential_version(self, user_id: str) -> int:
        """The user's credential version (0 until first bumped). A login
        reads it *before* checking the password and records it in the
        session, so a change racing the login still ends that session."""

    async def bump_credential_version(self, user_id: str, *, now: float, keep: str | None = None) -> int:
        """Advance the user's version (password change, disable, logout-all):
        every session born under an older one is revoked from then on (get
        reports it revoked, rotate refuses it, in the same statement/script).
        ``keep`` is re-stamped in the same atomic step. Returns the new version."""

    async def set_grants(self, user_id: str, grants: str | None) -> None:
        """Store the user's claims and scope (``Grants.encode``) beside the
        credential version: every later rotate and read of the user's
        sessions returns them. ``create_session`` writes a session's
        ``grants`` only if the user has none stored yet (so a login that
        read the user before a change cannot write the old ones back)."""

    async def purge_expired(self, *, now: float) -> int:
        """Delete sessions past their absolute expiry (revoked or not: past
        that point no token of theirs can be presented as valid)."""

    async def list_all_sessions(self, *, now: float, limit: int = 1000) -> list[Session]:
        """Live sessions of every user (admin CLI; may scan)."""


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A signing key as the database keeps it (private half sealed)."""

    kid: str
    alg: str
    private_enc: bytes
    public_jwk: str  # JSON; empty object for symmetric keys
    created_at: float
    retired_at: float | None = None  # stops signing then (may be in the future)
    activates_at: float | None = None  # signs from then on (``None``: from created_at)
    revoked_at: float | None = None  # compromised: unpublished, its tokens refused

    @property
    def starts(self) -> float:
        """When it signs from: published ahead of that during a rotation."""
        return self.created_at if self.activates_at is None else self.activates_at

    def signs_at(self, now: float) -> bool:
        return (
            self.revoked_at is None and self.starts <= now
            and (self.retired_at is None or now < self.retired_at)
        )


class KeyStore(Protocol):
    async def list_keys(self) -> list[StoredKey]: ...

    async def add_key(self, key: StoredKey) -> None: ...

    async def add_first_key(self, key: StoredKey) -> bool:
        """Insert ``key`` unless an unretired key of its algorithm exists,
        as one serialised step, so replicas starting together on an empty
        database agree on one active key. True if inserted."""

    async def retire_keys_except(self, kid: str, now: float) -> int: ...

    async def revoke_key(self, kid: str, now: float) -> bool:
        """Mark a compromised key revoked (and retired); ``False`` if unknown
        or already revoked."""


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


# --- the shared security state --------------------------------------------
# Throttling counters, the access-token denylist, the DPoP ``jti`` replay
# cache and resource-server clients. All of it must be shared by every
# replica, so it lives in the session store's database (clients: in the
# main database). Callers fail closed on ``StoreUnavailable``.

class CounterStore(Protocol):
    async def counters(self, keys: Sequence[str], *, now: float) -> dict[str, Counter]:
        """The live counters among ``keys`` (missing or expired ones absent)."""

    async def increment(self, key: str, *, now: float, expires_at: float) -> Counter:
        """Atomically add one (starting from zero if missing or expired) and
        return the new value; the counter lives until ``expires_at``."""

    async def reset(self, key: str) -> None: ...

    async def reserve(self, key: str, *, limit: int, now: float, expires_at: float) -> Counter | None:
        """Atomically add one unless the live count is already ``limit``
        (then change nothing and return ``None``): however many callers
        race, at most ``limit`` get through."""

    async def release(self, key: str, *, now: float) -> None:
        """Give back one reservation (never below zero)."""


class Denylist(Protocol):
    async def deny(self, keys: Sequence[str], *, now: float, expires_at: float) -> None:
        """Add (or extend) entries; committed before returning."""

    async def any_denied(self, keys: Sequence[str], *, now: float) -> bool:
        """One O(1) lookup per key. Raises ``StoreUnavailable`` rather than
        answering "not denied" when it cannot tell."""


class ReplayCache(Protocol):
    async def first_use(self, key: str, *, now: float, expires_at: float) -> bool:
        """Record ``key``; True iff it was not already recorded (and live).
        Atomic: of concurrent callers with one key, exactly one gets True."""


@dataclass(frozen=True, slots=True)
class ResourceClient:
    id: str
    name: str
    secret_hash: str
    created_at: float
    disabled: bool = False
    # Space-separated permissions: ``sessions:issue`` lets the client open
    # and end sessions for its app's users (``/backend/sessions``).
    scope: str | None = None

    def allows(self, permission: str) -> bool:
        return permission in (self.scope or "").split()


class ResourceClientStore(Protocol):
    async def add_client(self, client: ResourceClient) -> None: ...

    async def client_by_id(self, client_id: str) -> ResourceClient | None: ...

    async def list_clients(self) -> list[ResourceClient]: ...


class SecurityState(CounterStore, Denylist, ReplayCache, Protocol):
    """Counters, denylist and replay cache on one engine, plus housekeeping."""

    async def purge_security(self, *, now: float) -> int: ...


# --- the revocation feed's log ----------------------------------------------

@dataclass(frozen=True, slots=True)
class Revocation:
    """One revoked session in the feed, until ``exp`` (its last access token's end)."""

    id: int
    sid: str
    exp: float
    at: float


class RevocationLog(Protocol):
    """Where the revocation feed keeps its entries (one per engine)."""

    async def add_revocations(self, sids: list[str], *, exp: float, now: float) -> None: ...

    async def revocations_after(self, after_id: int, *, now: float, limit: int) -> list[Revocation]:
        """Entries with ``id > after_id`` and ``exp > now``, by id."""

    async def purge_revocations(self, *, now: float) -> int: ...
