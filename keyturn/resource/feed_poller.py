"""The resource server's background thread: it reads the revocation feed
(``keyturn.resource.feed``) and keeps the JWKS fresh, so a verification
itself does no I/O.

What the thread learns, verifications read: the revoked sessions and
tokens (``RevokedSessions``), the revoked keys (``JwksCache.revoke``) and
when the feed last answered. ``check`` fails closed on what that says: a
feed silent for longer than ``max_feed_staleness`` is a 503
(``RevocationFeedUnavailable``), a feed that refused our credentials
(401/403) is ``RevocationFeedRefused`` at once — waiting will not heal it.
"""

from __future__ import annotations

import threading
import time

from keyturn.clock import Clock
from keyturn.core.tokens import AccessClaims
from keyturn.errors import TokenRevoked
from keyturn.resource.feed import (
    FeedHealth,
    RevocationFeedRefused,
    RevocationFeedUnavailable,
    RevocationSource,
    RevokedSessions,
)
from keyturn.resource.jwks import JwksCache


class FeedPoller:
    """Polls ``source`` (``None``: no feed, the thread only refreshes keys)
    every ``interval`` seconds, or long-polls with ``wait``."""

    def __init__(
        self,
        source: RevocationSource | None,
        *,
        keys: JwksCache,
        clock: Clock,
        interval: float = 2.0,
        wait: float = 0.0,
        max_staleness: float | None = 60.0,
    ) -> None:
        self.source = source
        self.keys = keys
        self.clock = clock
        self.interval = interval
        self.wait = wait
        self.max_staleness = max_staleness
        self.revoked = RevokedSessions()
        self.cursor: str | None = None
        self.ok_at: float | None = None  # time.monotonic() of the feed's last answer
        self.health = FeedHealth()
        self.thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._start_lock = threading.Lock()

    def check(self, claims: AccessClaims) -> AccessClaims:
        """The revocation check, on every verification (starting the thread
        on first use); no feed configured: nothing to check."""
        if self.source is not None:
            now = self.clock.now()
            self.ensure_started()
            # Fail closed: a feed silent for too long may be hiding revocations.
            if self.health.state == "refused":
                raise RevocationFeedRefused()  # a wrong credential: no grace, it will not heal by waiting
            ok_at, limit = self.ok_at, self.max_staleness
            if limit is not None and (ok_at is None or time.monotonic() - ok_at > limit):
                raise RevocationFeedUnavailable()
            if self.revoked.is_revoked(claims.sid, now) or self.revoked.is_token_revoked(claims.jti, now):
                raise TokenRevoked()
        return claims

    def poll(self, wait: float = 0.0) -> int:
        """One read of the feed; returns how many entries it brought."""
        assert self.source is not None, "no revocation source configured"
        batch = self.source.poll(self.cursor, wait=wait)
        self.revoked.add(batch.revoked, now=self.clock.now(), tokens=batch.tokens)
        if batch.keys:
            self.keys.revoke({kid for kid, _ in batch.keys})
        self.cursor = batch.cursor
        self.ok_at = time.monotonic()
        self.health.note("ok")
        return len(batch.revoked)

    def poll_once(self, wait: float) -> bool:
        """One poll whatever happens (staleness fails closed); a failure is
        logged once per change of state, in one line, not every poll."""
        try:
            self.poll(wait=wait)
        except RevocationFeedRefused as exc:
            self.health.note("refused", exc.detail)
            return False
        except Exception as exc:  # keep polling: staleness fails closed
            self.health.note("unreachable", f"{type(exc).__name__}: {exc}")
            return False
        return True

    def start(self) -> None:
        """Fetch keys and the feed once, then keep them fresh in a daemon thread."""
        with self._start_lock:
            if self.thread is not None:
                return
            self.keys.warm()
            if self.source is not None:
                self.poll_once(0.0)
            self._stop.clear()
            self.thread = threading.Thread(target=self._run, name="keyturn-verifier", daemon=True)
            self.thread.start()

    def ensure_started(self) -> None:
        if self.thread is None and not self._stop.is_set():
            self.start()

    def stop(self) -> None:
        self._stop.set()
        if self.source is not None:
            self.source.close()  # interrupts a long-poll in flight
        thread, self.thread = self.thread, None
        if thread is not None:
            # A long-poll in flight may not notice the closed client until the
            # server answers; the thread is a daemon and exits on its own then.
            thread.join(timeout=0.5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.keys.keep_fresh()
            if self.source is None:
                self._stop.wait(min(self.keys.max_age, 60.0))
                continue
            if not self.poll_once(self.wait):
                if self._stop.is_set():
                    return
                self._stop.wait(self.interval)
                continue
            if self.wait <= 0:
                self._stop.wait(self.interval)
