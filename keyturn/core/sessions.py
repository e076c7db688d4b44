"""The session value and the refresh decision (docs/concepts.md, "Refresh
semantics").

Validity is a pure function of ``(session, presented generation, now,
policy)``: the store does the atomic compare-and-set, this module decides what
a presented token *means*.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class Session:
    """One login on one device. ``salt`` is the per-session MAC salt; nothing
    stored here rebuilds a live refresh token without the server's key."""

    id: str
    user_id: str
    salt: bytes
    created_at: float
    absolute_expires_at: float
    idle_expires_at: float
    generation: int = 0
    rotated_at: float = 0.0
    last_used_at: float = 0.0
    login_ip: str | None = None
    user_agent: str | None = None
    last_ip: str | None = None
    last_user_agent: str | None = None
    dpop_jkt: str | None = None
    revoked_at: float | None = None
    revoke_reason: str | None = None
    credential_version: int = 0  # the user's credential version at login
    client_id: str | None = None  # who obtained it (RFC 9068 §2.2); None: the first-party client
    # The user's claims and scope as the store holds them now (JSON,
    # ``keyturn.core.claims.Grants``): read beside the credential version.
    grants: str | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def is_live(self, now: float) -> bool:
        return (
            self.revoked_at is None
            and now < self.idle_expires_at
            and now < self.absolute_expires_at
        )

    def rotated(self, now: float, idle_ttl: float, ip: str | None, user_agent: str | None) -> Session:
        """The session after one rotation (what the store's CAS writes)."""
        return replace(
            self,
            generation=self.generation + 1,
            rotated_at=now,
            last_used_at=now,
            idle_expires_at=slide_idle_expiry(now, idle_ttl, self.absolute_expires_at),
            last_ip=ip,
            last_user_agent=user_agent,
        )


def under_credentials(session: Session, version: int, changed_at: float | None) -> Session:
    """The session as the user's current credential ``version`` sees it: one
    born under an older version (the password changed, the user was
    disabled, logout-all) is revoked — also when its login raced the change."""
    if session.revoked_at is not None or session.credential_version == version:
        return session
    at = changed_at if changed_at is not None else session.created_at
    return replace(session, revoked_at=at, revoke_reason="credentials_changed")


def slide_idle_expiry(now: float, idle_ttl: float, absolute_expires_at: float) -> float:
    """The idle expiry slides forward on each refresh, never past the
    absolute expiry."""
    return min(now + idle_ttl, absolute_expires_at)


class Outcome(enum.Enum):
    ROTATE = "rotated"
    GRACE = "grace_retry"
    REUSED = "reused"
    INVALID = "invalid"
    EXPIRED = "expired"
    REVOKED = "revoked"
    BINDING_MISMATCH = "binding_mismatch"
    ROLL_FORWARD = "rollback_healed"


def classify(
    session: Session,
    presented_generation: int,
    now: float,
    *,
    reuse_interval: float,
    same_binding: bool,
    enforce_binding: bool,
    late_retrier: bool = False,
) -> Outcome:
    """Decide what a *genuine* token (its MAC already checked) of generation
    ``presented_generation`` means for ``session`` at ``now``.

    ``same_binding`` tells whether the presenter is on the login's network (or
    key); with binding off the caller passes ``True``. ``late_retrier``: the
    presenter is the client whose request made the current generation, by
    the strict test that holds beyond the grace window (docs/concepts.md,
    "Lost answers").
    """
    if session.revoked_at is not None:
        return Outcome.REVOKED
    if presented_generation > session.generation + 1:
        # A genuine token this far ahead is no successor the store could have
        # lost; refuse it like a guess, changing nothing.
        return Outcome.INVALID
    if now >= session.absolute_expires_at or now >= session.idle_expires_at:
        return Outcome.EXPIRED
    if presented_generation == session.generation + 1:
        # Only keyturn can mint a token whose MAC verifies, and it mints
        # generation g+1 only by committing the rotation to g+1: the store
        # lost that write (AOF everysec after a crash, a lagging replica
        # promoted). The holder is the rightful client: roll forward.
        if enforce_binding and not same_binding:
            return Outcome.BINDING_MISMATCH
        return Outcome.ROLL_FORWARD
    if presented_generation == session.generation:
        if enforce_binding and not same_binding:
            return Outcome.BINDING_MISMATCH
        return Outcome.ROTATE
    if presented_generation == session.generation - 1 and (
        (same_binding and now - session.rotated_at <= reuse_interval) or late_retrier
    ):
        # The successor has never been presented (the session would be past
        # it), so whoever rotated may still be waiting for it: its answer was
        # lost. Inside the window, any retry of that client; after it, only
        # the same client by the strict test: the same successor either way.
        return Outcome.GRACE
    # An older genuine token, or the previous one outside the window or from
    # elsewhere: the token was copied. Revoke the whole session.
    return Outcome.REUSED


def lru_victims(live: list[Session], max_sessions: int) -> list[Session]:
    """Sessions to evict so that one more fits under ``max_sessions``
    (0 = unlimited): the least recently used first."""
    if max_sessions <= 0 or len(live) < max_sessions:
        return []
    ordered = sorted(live, key=lambda s: (s.last_used_at, s.created_at, s.id))
    return ordered[: len(live) - max_sessions + 1]
