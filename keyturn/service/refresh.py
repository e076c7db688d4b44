"""Refresh: the rotation hot path, the grace window, reuse detection and
binding (docs/concepts.md, "Refresh semantics")."""

from __future__ import annotations

import logging
from dataclasses import replace

from keyturn.clock import Clock
from keyturn.config import Settings
from keyturn.core.policy import BindingMode, BindingPolicy
from keyturn.core.sessions import Outcome, Session, classify, slide_idle_expiry
from keyturn.errors import (
    BindingMismatch,
    InvalidDpopProof,
    RateLimited,
    RefreshTokenExpired,
    RefreshTokenInvalid,
    RefreshTokenReused,
    SessionRevoked,
    StoreUnavailable,
    UseDpopNonce,
)
from keyturn.logs import CURRENT
from keyturn.service.access import AccessTokens, TokenPair
from keyturn.service.ending import SessionEnding
from keyturn.service.events import EventRecorder
from keyturn.service.facts import SessionFacts
from keyturn.service.genuine import RefreshCheck
from keyturn.service.guards import DpopGuard, DpopRequest, Throttle
from keyturn.stores.protocols import SessionStore

log = logging.getLogger("keyturn")


class Refresh:
    """Rotation, the grace window and reuse detection, which ends the
    session through the ``SessionEnding`` handed in."""

    def __init__(
        self, settings: Settings, *, sessions: SessionStore, check: RefreshCheck, events: EventRecorder,
        clock: Clock, binding: BindingPolicy, throttle: Throttle, dpop: DpopGuard,
        access: AccessTokens, ending: SessionEnding,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.check = check
        self.events = events
        self.clock = clock
        self.binding = binding
        self.throttle = throttle
        self.dpop = dpop
        self.access = access
        self.ending = ending
        self._idle_ttl = settings.refresh_token_ttl

    async def refresh(
        self, token: str, *, ip: str | None, user_agent: str | None, dpop: DpopRequest | None = None,
    ) -> TokenPair:
        now = self.clock.now()
        # An address that sent too many invalid tokens is slowed down (429)
        # — but only for tokens that do not prove themselves: a token whose
        # MAC verifies was issued by keyturn, and its holder may share the
        # address with the guesser (carrier NAT, an office proxy).
        wait = await self.throttle.refresh_wait(ip, now)
        try:
            return await self._refresh(token, now, ip, user_agent, dpop, wait)
        except (RateLimited, UseDpopNonce):
            raise  # refused unread / a protocol step: not a guess
        except (RefreshTokenInvalid, InvalidDpopProof):  # invalid proofs count like guesses
            await self.throttle.refresh_invalid(ip, now)
            raise

    async def _refresh(
        self, token: str, now: float, ip: str | None, user_agent: str | None, dpop: DpopRequest | None,
        wait: float = 0.0,
    ) -> TokenPair:
        found = await self.check.genuine(token)
        if found is None:
            # A guess (or a flipped character): it changes nothing. A
            # slowed-down address learns nothing more than "wait".
            raise RateLimited(wait) if wait > 0 else RefreshTokenInvalid()
        parsed, facts, session = found.parsed, found.facts, found.session
        sid = parsed.session_id
        if facts.dpop_jkt is not None:
            # RFC 9449 §5: a DPoP-bound refresh token needs a fresh proof from
            # the same key; refused before the rotation, so nothing is consumed.
            proof = await self.dpop.verify(dpop, now)
            if proof.jkt != facts.dpop_jkt:
                raise InvalidDpopProof("the DPoP proof is from another key")
        same = self.binding.same_client(facts.login_ip, facts.user_agent, ip, user_agent)
        enforce = self.binding.mode is BindingMode.ENFORCE
        if session is None and (same or not enforce) and now < facts.absolute_expires_at:
            # Fast path: assume the token is the current one and let the store's
            # compare-and-set decide; on failure, read and classify.
            pair = await self._try_rotate(sid, parsed.generation, facts, now, ip, user_agent, same)
            if pair is not None:
                return pair
        for _ in range(8):
            if session is None:
                session = await self.sessions.get_session(sid, user_id=facts.user_id)
                if session is None:
                    raise RefreshTokenInvalid()
            # The grace window is for the client whose request rotated,
            # retrying: judged against that request, in every binding mode.
            retrier = self.binding.same_retrier(session.last_ip, session.last_user_agent, ip, user_agent)
            outcome = classify(
                session, parsed.generation, now,
                reuse_interval=self.settings.reuse_interval,
                same_binding=retrier if parsed.generation < session.generation else same,
                enforce_binding=enforce,
                late_retrier=retrier and self.binding.late_retrier(
                    session.last_ip, session.last_user_agent, ip, user_agent),
            )
            if outcome is Outcome.ROTATE or outcome is Outcome.ROLL_FORWARD:
                # Rolling forward rotates from the store's generation past the
                # presented one: g -> g+2, and the client gets the g+2 pair.
                pair = await self._try_rotate(
                    sid, session.generation, facts, now, ip, user_agent, same,
                    to_generation=parsed.generation + 1,
                )
                if pair is not None:
                    if outcome is Outcome.ROLL_FORWARD:
                        await self.events.record(
                            "store_rollback_healed", now, user_id=facts.user_id, session_id=sid, ip=ip,
                            user_agent=user_agent, presented_generation=parsed.generation,
                            stored_generation=session.generation,
                        )
                    return pair
                session = None  # lost the race: re-read and decide again
                continue
            return await self._refuse(outcome, session, parsed.generation, now, ip, user_agent)
        raise RefreshTokenInvalid()  # pragma: no cover - generation only grows

    async def _try_rotate(
        self, sid: str, generation: int, facts: SessionFacts, now: float,
        ip: str | None, user_agent: str | None, same: bool, *, to_generation: int | None = None,
    ) -> TokenPair | None:
        """Compare-and-set ``generation`` -> ``to_generation`` (default the
        next one); the new pair, or ``None`` if another request won."""
        new = generation + 1 if to_generation is None else to_generation
        idle = slide_idle_expiry(now, self._idle_ttl, facts.absolute_expires_at)
        won = await self.sessions.rotate(
            sid, generation, now=now, idle_expires_at=idle, ip=ip, user_agent=user_agent, user_id=facts.user_id,
            to_generation=new,
        )
        if won is None:
            return None
        if not same:
            await self.events.record(
                "binding_mismatch", now, user_id=facts.user_id, session_id=sid, ip=ip,
                user_agent=user_agent, login_ip=facts.login_ip, action="alert",
            )
        # The user's claims and scope as the rotate read them (same round trip).
        return self.access.mint(
            sid, facts.user_id, facts.salt, new, now, idle, facts.absolute_expires_at, facts.dpop_jkt,
            client_id=facts.client_id, grants=won.grants,
        )

    async def _refuse(
        self, outcome: Outcome, session: Session, generation: int, now: float,
        ip: str | None, user_agent: str | None,
    ) -> TokenPair:
        if outcome is Outcome.GRACE:
            # Idempotent retry: the same successor, recomputed; a fresh access token.
            if now - session.rotated_at > self.settings.reuse_interval:
                # A lost answer retried after the window: rare (an outage), and
                # the trace a same-network, same-agent copy would leave.
                await self.events.record(
                    "refresh_retry_late", now, user_id=session.user_id, session_id=session.id, ip=ip,
                    user_agent=user_agent, generation=session.generation, rotated_at=session.rotated_at,
                )
            return replace(self.access.pair(session, now), grace=True)
        if outcome is Outcome.REUSED:
            request = CURRENT.get()
            if request is not None and request.gone is not None and await request.gone():
                # Its client has gone (a replica frozen with the request in
                # hand, a connection closed): it has retried elsewhere and
                # moved on, so this is no evidence of theft. Nothing is done.
                log.warning("refresh: a reuse verdict for a client that has gone (session %s): nothing done", session.id)
                raise StoreUnavailable()
            # Commit the revocation on its own, before failing the request: a
            # rollback with the failed request would undo the protection.
            # Ending denylists first: whatever fails after, the access tokens are dead.
            first = await self.ending.end(session.id, now, reason="reuse", user_id=session.user_id)
            if first:  # one event per theft, not one per racing request
                await self.events.record(
                    "refresh_token_reused", now, user_id=session.user_id, session_id=session.id,
                    ip=ip, user_agent=user_agent, presented_generation=generation,
                    current_generation=session.generation,
                    holder={"ip": session.last_ip, "user_agent": session.last_user_agent,
                            "last_used_at": session.last_used_at},
                    presenter={"ip": ip, "user_agent": user_agent, "at": now},
                )
            raise RefreshTokenReused()
        if outcome is Outcome.BINDING_MISMATCH:
            await self.events.record(
                "binding_mismatch", now, user_id=session.user_id, session_id=session.id, ip=ip,
                user_agent=user_agent, login_ip=session.login_ip, action="refused",
            )
            raise BindingMismatch()
        if outcome is Outcome.EXPIRED:
            raise RefreshTokenExpired()
        if outcome is Outcome.REVOKED:
            raise SessionRevoked()
        raise RefreshTokenInvalid()

