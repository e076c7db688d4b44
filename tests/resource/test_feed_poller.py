"""``FeedPoller`` alone, without a Verifier: what a poll teaches the
revocation check, and how that check fails closed (a stale feed: 503; a
feed that refused our credentials: at once, no grace)."""

from __future__ import annotations

import threading
import time

import pytest

from keyturn.clock import FrozenClock
from keyturn.core.tokens import AccessClaims
from keyturn.errors import TokenRevoked
from keyturn.resource.feed import RevocationBatch, RevocationFeedRefused, RevocationFeedUnavailable
from keyturn.resource.feed_poller import FeedPoller
from keyturn.resource.jwks import JwksCache

NOW = 1_000_000.0


class Source:
    """A revocation source answering queued batches (or raising ``fail``)."""

    def __init__(self, *batches: RevocationBatch) -> None:
        self.batches = list(batches)
        self.cursors: list[str | None] = []
        self.fail: Exception | None = None
        self.closed = False
        self.polled = threading.Event()

    def poll(self, cursor: str | None, *, wait: float) -> RevocationBatch:
        self.cursors.append(cursor)
        self.polled.set()
        if self.fail is not None:
            raise self.fail
        return self.batches.pop(0) if self.batches else RevocationBatch(cursor)

    def close(self) -> None:
        self.closed = True


def claims(sid: str = "s1", jti: str = "j1") -> AccessClaims:
    return AccessClaims(iss="i", aud="a", sub="u", sid=sid, jti=jti, iat=int(NOW), exp=int(NOW) + 60)


def poller(source: Source | None, **kw: float | None) -> FeedPoller:
    p = FeedPoller(source, keys=JwksCache(None, algorithms=("EdDSA",)), clock=FrozenClock(NOW), interval=0.01, **kw)
    p.thread = threading.Thread()  # never started: no background thread, polls are explicit
    return p


def test_a_poll_revokes_sessions_tokens_and_keys_and_moves_the_cursor() -> None:
    source = Source(RevocationBatch("c1", revoked=[("s1", NOW + 60)], tokens=[("j2", NOW + 60)], keys=[("k1", NOW + 60)]))
    p = poller(source)
    assert p.poll() == 1
    assert p.cursor == "c1" and p.keys.revoked == {"k1"}
    for revoked in (claims(sid="s1"), claims(sid="s2", jti="j2")):
        with pytest.raises(TokenRevoked):
            p.check(revoked)
    assert p.check(claims(sid="s2")).sid == "s2"
    p.poll()
    assert source.cursors == [None, "c1"]  # the next poll asks for what came after


def test_a_feed_silent_for_too_long_fails_closed() -> None:
    p = poller(Source(), max_staleness=5.0)
    with pytest.raises(RevocationFeedUnavailable):
        p.check(claims())  # never answered
    p.poll()
    assert p.check(claims()).sid == "s1"
    p.ok_at = time.monotonic() - 10  # last answer 10 s ago
    with pytest.raises(RevocationFeedUnavailable):
        p.check(claims())
    p.max_staleness = None  # staleness not checked: the operator's choice
    assert p.check(claims()).sid == "s1"


def test_a_feed_that_refuses_our_credentials_fails_closed_at_once() -> None:
    source = Source()
    p = poller(source, max_staleness=None)
    p.poll()
    source.fail = RevocationFeedRefused("answered 401")
    assert p.poll_once(0.0) is False
    assert p.health.state == "refused"
    with pytest.raises(RevocationFeedRefused):
        p.check(claims())


def test_an_unreachable_feed_is_retried_not_raised() -> None:
    source = Source()
    source.fail = ConnectionError("down")
    p = poller(source, max_staleness=None)
    assert p.poll_once(0.0) is False  # the thread keeps polling; staleness decides
    assert p.health.state == "unreachable"
    source.fail = None
    assert p.poll_once(0.0) is True and p.health.state == "ok"


def test_without_a_source_nothing_is_checked_and_nothing_starts() -> None:
    p = FeedPoller(None, keys=JwksCache(None, algorithms=("EdDSA",)), clock=FrozenClock(NOW))
    assert p.check(claims()).sid == "s1"
    assert p.thread is None


def test_the_thread_polls_first_in_start_then_in_the_background_until_stopped() -> None:
    source = Source(RevocationBatch("c1"), RevocationBatch("c2"))
    p = FeedPoller(source, keys=JwksCache(None, algorithms=("EdDSA",)), clock=FrozenClock(NOW), interval=0.01)
    p.check(claims())  # the first check starts it, and it polled before answering
    assert source.cursors[0] is None and p.cursor is not None
    try:
        source.polled.clear()
        assert source.polled.wait(5), "the background thread never polled"
        assert p.thread is not None and p.thread.is_alive()
    finally:
        p.stop()
    assert source.closed and p.thread is None
