"""Any interleaving of refresh, retry, reuse, logout, eviction and time:
never two live successors, never a revoked session revived, never an expired
token accepted. A model predicts every answer; the service must agree."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from keyturn import errors
from keyturn.clock import FrozenClock
from keyturn.config import Settings
from keyturn.service.masterkey import new_master_key
from keyturn.service.wiring import build_runtime
from keyturn.stores.memory import memory_stores
from tests.conftest import FAST_ARGON2, PASSWORD

IDLE, ABSOLUTE, WINDOW, MAX_SESSIONS = 100.0, 300.0, 10.0, 2
# Who presents a token: the client, another program on its network, a copy elsewhere.
PRESENTERS = [("203.0.113.7", "t"), ("203.0.113.7", "other"), ("198.51.100.9", "t")]


@dataclass
class ModelSession:
    id: str
    created_at: float
    last_used_at: float
    abs_exp: float
    idle_exp: float
    gen: int = 0
    rotated_at: float = 0.0
    revoked: bool = False
    issued: dict[int, str] = field(default_factory=dict)
    last: tuple[str, str] = PRESENTERS[0]  # who made the current generation

    def live(self, now: float) -> bool:
        return not self.revoked and now < self.idle_exp and now < self.abs_exp


class SessionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = FrozenClock()
        s = Settings(
            database_url="memory://", master_key=new_master_key(), refresh_token_ttl=int(IDLE),
            session_max_age=int(ABSOLUTE), reuse_interval=int(WINDOW), max_sessions_per_user=MAX_SESSIONS,
            refresh_ip_max_invalid=100_000,  # guesses are modelled unthrottled; throttling: tests/service/test_throttling.py
            **FAST_ARGON2,
        )
        self.rt = build_runtime(s, clock=self.clock, stores=memory_stores())
        self.sessions: list[ModelSession] = []

    def run(self, coro):  # type: ignore[no-untyped-def]
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.loop.close()

    @initialize()
    def setup(self) -> None:
        self.run(self.rt.start())
        self.run(self.rt.service.create_user("alice", PASSWORD))
        self.login()

    @rule()
    def login(self) -> None:
        # Every action takes a moment, so LRU order never hinges on random ids.
        self.clock.advance(0.001)
        now = self.clock.now()
        live = [m for m in self.sessions if m.live(now)]
        if len(live) >= MAX_SESSIONS:
            ordered = sorted(live, key=lambda m: (m.last_used_at, m.created_at, m.id))
            for victim in ordered[: len(live) - MAX_SESSIONS + 1]:
                victim.revoked = True
        pair = self.run(self.rt.service.login("alice", PASSWORD, ip="203.0.113.7", user_agent="t"))
        m = ModelSession(pair.session_id, now, now, now + ABSOLUTE, min(now + IDLE, now + ABSOLUTE), rotated_at=now)
        m.issued[0] = pair.refresh_token
        self.sessions.append(m)

    @rule(dt=st.floats(min_value=0, max_value=60, allow_nan=False))
    def advance(self, dt: float) -> None:
        self.clock.advance(dt)

    @precondition(lambda self: bool(self.sessions))
    @rule(data=st.data())
    def present(self, data: st.DataObject) -> None:
        m = data.draw(st.sampled_from(self.sessions))
        gen = data.draw(st.sampled_from(sorted(m.issued)))
        self.check_refresh(m, gen, data.draw(st.sampled_from(PRESENTERS)))

    @precondition(lambda self: bool(self.sessions))
    @rule(data=st.data())
    def refresh_newest(self, data: st.DataObject) -> None:
        m = data.draw(st.sampled_from(self.sessions))
        self.check_refresh(m, max(m.issued))

    @precondition(lambda self: bool(self.sessions))
    @rule(data=st.data())
    def guess(self, data: st.DataObject) -> None:
        m = data.draw(st.sampled_from(self.sessions))
        token = m.issued[max(m.issued)]
        bad = token[:-3] + ("xyz" if token[-3:] != "xyz" else "abc")
        try:
            self.run(self.rt.service.refresh(bad, ip="198.51.100.1", user_agent="guess"))
        except errors.RefreshTokenInvalid:
            return
        raise AssertionError("a guessed token was accepted")

    @precondition(lambda self: bool(self.sessions))
    @rule(data=st.data())
    def logout(self, data: st.DataObject) -> None:
        m = data.draw(st.sampled_from(self.sessions))
        self.run(self.rt.stores.sessions.revoke_session(m.id, now=self.clock.now(), reason="logout"))
        m.revoked = True

    def check_refresh(self, m: ModelSession, gen: int, who: tuple[str, str] = PRESENTERS[0]) -> None:
        self.clock.advance(0.001)
        now = self.clock.now()
        token = m.issued[gen]
        if m.revoked:
            expected: type[Exception] | str = errors.SessionRevoked
        elif gen > m.gen:
            expected = errors.RefreshTokenInvalid
        elif now >= m.abs_exp or now >= m.idle_exp:
            expected = errors.RefreshTokenExpired
        elif gen == m.gen:
            expected = "rotate"
        elif gen == m.gen - 1 and who[0] == m.last[0] and (now - m.rotated_at <= WINDOW or who == m.last):
            # The rotating client's retry: inside the window from its network,
            # after it (a lost answer) only from the same network and program.
            expected = "grace"
        else:
            expected = errors.RefreshTokenReused
        try:
            pair = self.run(self.rt.service.refresh(token, ip=who[0], user_agent=who[1]))
        except errors.KeyturnError as exc:
            assert isinstance(expected, type) and isinstance(exc, expected), (expected, exc)
            if expected is errors.RefreshTokenReused:
                m.revoked = True
            return
        assert expected in ("rotate", "grace"), f"expected {expected}, the service answered with tokens"
        if expected == "rotate":
            assert m.gen + 1 not in m.issued, "two successors for one generation"
            m.gen += 1
            m.rotated_at = m.last_used_at = now
            m.last = who
            m.idle_exp = min(now + IDLE, m.abs_exp)
            m.issued[m.gen] = pair.refresh_token
        else:
            assert pair.refresh_token == m.issued[m.gen], "a grace retry forked a new successor"

    @invariant()
    def store_agrees(self) -> None:
        now = self.clock.now()
        for m in self.sessions:
            s = self.run(self.rt.stores.sessions.get_session(m.id))
            assert s is not None
            assert s.generation == m.gen
            assert (s.revoked_at is not None) == m.revoked, "revocation state diverged"
            assert s.is_live(now) == m.live(now)
            # Exactly one token of a live session rotates: the one minted for its generation.
            assert self.rt.service.mac.mint(m.id, s.generation, s.salt) == m.issued[m.gen]


TestSessionMachine = SessionMachine.TestCase
TestSessionMachine.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
