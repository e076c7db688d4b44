"""The typed bundles an engine opens (``keyturn.stores.open`` picks the
engine by URL scheme). A database engine holds every store; a session
engine (Redis, or a second SQL database) holds the sessions and the
security state that must be shared exactly as widely."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from keyturn.stores.protocols import (
    EventStore,
    KeyStore,
    Lifecycle,
    ResourceClientStore,
    RevocationLog,
    SecurityState,
    SessionStore,
    UserStore,
)

@dataclass(frozen=True, slots=True)
class SessionEngine:
    """Sessions and the security state (counters, denylist, DPoP ``jti``s)
    on one engine, so every replica sharing the sessions shares the state."""

    sessions: SessionStore
    security: SecurityState
    engine: Lifecycle


@dataclass(frozen=True, slots=True)
class Stores:
    """Every store the service uses, typed by its seam."""

    users: UserStore
    keys: KeyStore
    events: EventStore
    clients: ResourceClientStore
    revocations: RevocationLog
    sessions: SessionStore
    security: SecurityState
    database: Lifecycle
    session_engine: Lifecycle | None = None  # set when sessions live on another engine

    def with_sessions(self, other: SessionEngine) -> Stores:
        """These stores with sessions and security state on ``other``."""
        return dataclasses.replace(
            self, sessions=other.sessions, security=other.security, session_engine=other.engine
        )

    @property
    def engines(self) -> dict[str, Lifecycle]:
        """Each engine once, by the role /readyz and doctor name it by."""
        found = {"database": self.database}
        if self.session_engine is not None:
            found["sessions"] = self.session_engine
        return found

    async def migrate(self) -> None:
        for engine in self.engines.values():
            await engine.migrate()

    async def close(self) -> None:
        for engine in reversed(list(self.engines.values())):
            await engine.close()
