"""In-process reference engine: for tests, property checks and embedding.

Every method runs without an ``await`` between its read and its write, so on
one event loop each is atomic, exactly like a Lua script or a conditional
UPDATE.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from keyturn.core.sessions import Session, lru_victims, under_credentials
from keyturn.core.throttle import Counter
from keyturn.core.users import User
from keyturn.errors import ClientNameTaken, StoreUnavailable, UsernameTaken
from keyturn.stores.bundle import SessionEngine, Stores
from keyturn.stores.protocols import ResourceClient, Revocation, Rotated, SecurityEvent, StoredKey


class MemoryStore:
    def __init__(self) -> None:
        self.users: dict[str, User] = {}
        self.sessions: dict[str, Session] = {}
        self.keys: dict[str, StoredKey] = {}
        self.events: list[SecurityEvent] = []
        self.credentials: dict[str, tuple[int, float]] = {}  # user id -> (version, changed_at)
        self.grants: dict[str, str | None] = {}  # user id -> claims and scope (``Grants.encode``)
        self.down = False  # tests flip this to simulate an outage

    def _check(self) -> None:
        if self.down:
            raise StoreUnavailable()

    async def migrate(self) -> None:
        self._check()

    async def ping(self) -> None:
        self._check()

    async def close(self) -> None:
        return None

    # --- users ------------------------------------------------------------

    async def add_user(self, user: User) -> None:
        self._check()
        if any(u.username == user.username for u in self.users.values()):
            raise UsernameTaken()
        self.users[user.id] = user

    async def add_users(self, users: Sequence[User]) -> None:
        self._check()
        names = {u.username for u in self.users.values()}
        for user in users:
            if user.username in names:
                raise UsernameTaken()  # before any insert: all or none
            names.add(user.username)
        self.users.update((u.id, u) for u in users)

    async def user_by_name(self, username: str) -> User | None:
        self._check()
        return next((u for u in self.users.values() if u.username == username), None)

    async def user_by_id(self, user_id: str) -> User | None:
        self._check()
        return self.users.get(user_id)

    async def users_by_names(self, usernames: Sequence[str]) -> list[User]:
        self._check()
        wanted = set(usernames)
        return [u for u in self.users.values() if u.username in wanted]

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        self._check()
        if user_id in self.users:
            self.users[user_id] = dataclasses.replace(self.users[user_id], password_hash=password_hash)

    async def upgrade_password_hash(self, user_id: str, *, verified: str, new: str) -> bool:
        self._check()
        user = self.users.get(user_id)
        if user is None or user.password_hash != verified:
            return False
        self.users[user_id] = dataclasses.replace(user, password_hash=new)
        return True

    async def set_disabled(self, user_id: str, disabled: bool) -> bool:
        self._check()
        if user_id not in self.users:
            return False
        self.users[user_id] = dataclasses.replace(self.users[user_id], disabled=disabled)
        return True

    async def list_users(self, limit: int = 1000) -> list[User]:
        self._check()
        return sorted(self.users.values(), key=lambda u: u.created_at)[:limit]

    async def set_claims(self, user_id: str, claims: dict[str, Any], scope: str | None) -> bool:
        self._check()
        if user_id not in self.users:
            return False
        self.users[user_id] = dataclasses.replace(self.users[user_id], claims=dict(claims), scope=scope)
        return True

    # --- sessions ---------------------------------------------------------

    async def create_session(self, session: Session, *, max_sessions: int, now: float) -> list[str]:
        self._check()
        live = [s for s in self.sessions.values() if s.user_id == session.user_id and s.is_live(now)]
        evicted = [s.id for s in lru_victims(live, max_sessions)]
        for sid in evicted:
            self._revoke(sid, now, "evicted")
        if session.grants is not None:
            self.grants.setdefault(session.user_id, session.grants)
        self.sessions[session.id] = dataclasses.replace(session, grants=None)
        return evicted

    async def set_grants(self, user_id: str, grants: str | None) -> None:
        self._check()
        self.grants[user_id] = grants

    def _find(self, session_id: str, user_id: str | None) -> Session | None:
        s = self.sessions.get(session_id)
        return None if s is None or (user_id is not None and s.user_id != user_id) else self._judged(s)

    def _judged(self, s: Session) -> Session:
        version, at = self.credentials.get(s.user_id, (0, None))
        return under_credentials(dataclasses.replace(s, grants=self.grants.get(s.user_id)), version, at)

    async def credential_version(self, user_id: str) -> int:
        self._check()
        return self.credentials.get(user_id, (0, 0.0))[0]

    async def bump_credential_version(self, user_id: str, *, now: float, keep: str | None = None) -> int:
        self._check()
        version = self.credentials.get(user_id, (0, 0.0))[0] + 1
        self.credentials[user_id] = (version, now)
        kept = self.sessions.get(keep) if keep is not None else None
        if kept is not None and kept.user_id == user_id:
            self.sessions[kept.id] = dataclasses.replace(kept, credential_version=version)
        return version

    async def get_session(self, session_id: str, *, user_id: str | None = None) -> Session | None:
        self._check()
        return self._find(session_id, user_id)

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
        self._check()
        s = self._find(session_id, user_id)
        if s is None or s.generation != expected_generation or s.revoked_at is not None or s.idle_expires_at <= now:
            return None
        self.sessions[session_id] = dataclasses.replace(
            s, generation=expected_generation + 1 if to_generation is None else to_generation, rotated_at=now, last_used_at=now,
            idle_expires_at=idle_expires_at, last_ip=ip, last_user_agent=user_agent, grants=None,
        )
        return Rotated(self.grants.get(s.user_id))

    def _revoke(self, session_id: str, now: float, reason: str) -> bool:
        s = self.sessions.get(session_id)
        if s is None or s.revoked_at is not None:
            return False
        self.sessions[session_id] = dataclasses.replace(s, revoked_at=now, revoke_reason=reason)
        return True

    async def revoke_session(
        self, session_id: str, *, now: float, reason: str, user_id: str | None = None
    ) -> bool:
        self._check()
        if self._find(session_id, user_id) is None:
            return False
        return self._revoke(session_id, now, reason)

    async def revoke_user(self, user_id: str, *, now: float, reason: str, keep: str | None = None) -> list[str]:
        self._check()
        ids = [
            s.id for s in self.sessions.values()
            if s.user_id == user_id and s.id != keep and s.revoked_at is None and s.absolute_expires_at > now
        ]
        for sid in ids:
            self._revoke(sid, now, reason)
        return ids

    async def list_sessions(self, user_id: str, *, now: float) -> list[Session]:
        self._check()
        live = [s for s in map(self._judged, self.sessions.values()) if s.user_id == user_id and s.is_live(now)]
        return sorted(live, key=lambda s: s.last_used_at, reverse=True)

    async def list_all_sessions(self, *, now: float, limit: int = 1000) -> list[Session]:
        self._check()
        live = [s for s in map(self._judged, self.sessions.values()) if s.is_live(now)]
        return sorted(live, key=lambda s: s.last_used_at, reverse=True)[:limit]

    async def purge_expired(self, *, now: float) -> int:
        self._check()
        dead = [sid for sid, s in self.sessions.items() if s.absolute_expires_at <= now]
        for sid in dead:
            del self.sessions[sid]
        return len(dead)

    # --- keys and events ----------------------------------------------------

    async def list_keys(self) -> list[StoredKey]:
        self._check()
        return sorted(self.keys.values(), key=lambda k: k.created_at)

    async def add_key(self, key: StoredKey) -> None:
        self._check()
        self.keys[key.kid] = key

    async def add_first_key(self, key: StoredKey) -> bool:
        self._check()
        if any(k.alg == key.alg and k.retired_at is None for k in self.keys.values()):
            return False
        self.keys[key.kid] = key
        return True

    async def retire_keys_except(self, kid: str, now: float) -> int:
        self._check()
        n = 0
        for k, v in list(self.keys.items()):
            if k != kid and v.retired_at is None:
                self.keys[k] = dataclasses.replace(v, retired_at=now)
                n += 1
        return n

    async def revoke_key(self, kid: str, now: float) -> bool:
        self._check()
        key = self.keys.get(kid)
        if key is None or key.revoked_at is not None:
            return False
        self.keys[kid] = dataclasses.replace(key, revoked_at=now, retired_at=key.retired_at or now)
        return True

    async def add_event(self, event: SecurityEvent) -> None:
        self._check()
        self.events.append(event)

    async def list_events(self, *, user_id: str | None = None, limit: int = 100) -> Sequence[SecurityEvent]:
        self._check()
        found = [e for e in self.events if user_id is None or e.user_id == user_id]
        return found[-limit:]


# --- the shared security state in process -----------------------------------
# Tests, embedding, and the memory engine; atomic on one event loop likewise.

class MemorySecurityStore:
    """``beside``: the memory store this state lives next to; it is down
    whenever that one is, as tables of one database would be."""

    def __init__(self, beside: MemoryStore | None = None) -> None:
        self._beside = beside
        self.counter_rows: dict[str, tuple[int, float, float]] = {}  # count, last_at, expires_at
        self.deny_rows: dict[str, tuple[float, float]] = {}  # created_at, expires_at
        self.jti_rows: dict[str, float] = {}
        self.clients: dict[str, ResourceClient] = {}
        self.down = False  # tests flip this to simulate an outage

    def _check(self) -> None:
        if self.down or (self._beside is not None and self._beside.down):
            raise StoreUnavailable()

    async def counters(self, keys: Sequence[str], *, now: float) -> dict[str, Counter]:
        self._check()
        out: dict[str, Counter] = {}
        for key in keys:
            row = self.counter_rows.get(key)
            if row is not None and row[2] > now:
                out[key] = Counter(row[0], row[1])
        return out

    async def increment(self, key: str, *, now: float, expires_at: float) -> Counter:
        self._check()
        row = self.counter_rows.get(key)
        count = 1 if row is None or row[2] <= now else row[0] + 1
        self.counter_rows[key] = (count, now, expires_at)
        return Counter(count, now)

    async def reset(self, key: str) -> None:
        self._check()
        self.counter_rows.pop(key, None)

    async def reserve(self, key: str, *, limit: int, now: float, expires_at: float) -> Counter | None:
        self._check()
        row = self.counter_rows.get(key)
        count = 0 if row is None or row[2] <= now else row[0]
        if count >= limit:
            return None
        self.counter_rows[key] = (count + 1, now, expires_at)
        return Counter(count + 1, now)

    async def release(self, key: str, *, now: float) -> None:
        self._check()
        row = self.counter_rows.get(key)
        if row is not None and row[2] > now and row[0] > 0:
            self.counter_rows[key] = (row[0] - 1, row[1], row[2])

    async def deny(self, keys: Sequence[str], *, now: float, expires_at: float) -> None:
        self._check()
        for key in keys:
            row = self.deny_rows.get(key)
            if row is None or row[1] <= now:
                self.deny_rows[key] = (now, expires_at)
            else:
                self.deny_rows[key] = (row[0], max(row[1], expires_at))

    async def any_denied(self, keys: Sequence[str], *, now: float) -> bool:
        self._check()
        return any((row := self.deny_rows.get(k)) is not None and row[1] > now for k in keys)

    async def first_use(self, key: str, *, now: float, expires_at: float) -> bool:
        self._check()
        seen = self.jti_rows.get(key)
        if seen is not None and seen > now:
            return False
        self.jti_rows[key] = expires_at
        return True

    async def add_client(self, client: ResourceClient) -> None:
        self._check()
        if any(c.name == client.name for c in self.clients.values()):
            raise ClientNameTaken()
        self.clients[client.id] = client

    async def client_by_id(self, client_id: str) -> ResourceClient | None:
        self._check()
        return self.clients.get(client_id)

    async def list_clients(self) -> list[ResourceClient]:
        self._check()
        return sorted(self.clients.values(), key=lambda c: c.created_at)

    async def purge_security(self, *, now: float) -> int:
        self._check()
        dead = [k for k, r in self.counter_rows.items() if r[2] <= now]
        dead_d = [k for k, r in self.deny_rows.items() if r[1] <= now]
        dead_j = [k for k, e in self.jti_rows.items() if e <= now]
        for k in dead:
            del self.counter_rows[k]
        for k in dead_d:
            del self.deny_rows[k]
        for k in dead_j:
            del self.jti_rows[k]
        return len(dead) + len(dead_d) + len(dead_j)


class MemoryRevocationLog:
    """The revocation feed's log in process (memory engine, tests)."""

    def __init__(self) -> None:
        self.rows: list[Revocation] = []
        self._next = 1

    async def add_revocations(self, sids: list[str], *, exp: float, now: float) -> None:
        for sid in sids:
            self.rows.append(Revocation(self._next, sid, exp, now))
            self._next += 1

    async def revocations_after(self, after_id: int, *, now: float, limit: int) -> list[Revocation]:
        return [r for r in self.rows if r.id > after_id and r.exp > now][:limit]

    async def purge_revocations(self, *, now: float) -> int:
        before = len(self.rows)
        self.rows = [r for r in self.rows if r.exp > now]
        return before - len(self.rows)


def memory_stores(database: MemoryStore | None = None) -> Stores:
    """Every store in process (single-process use: nothing is shared)."""
    db = database if database is not None else MemoryStore()
    security = MemorySecurityStore(beside=db)
    return Stores(
        users=db, keys=db, events=db, clients=security, revocations=MemoryRevocationLog(),
        sessions=db, security=security, database=db,
    )


def memory_session_engine(sessions: MemoryStore | None = None) -> SessionEngine:
    store = sessions if sessions is not None else MemoryStore()
    return SessionEngine(sessions=store, security=MemorySecurityStore(beside=store), engine=store)
