"""Refresh-token rotation and theft detection (RFC 9700 §4.14.2): each use
mints a successor, the used token is dead, an older token revokes the live
one, and a guess changes nothing."""

from __future__ import annotations

from keyturn.audit import jws
from keyturn.audit.checks.base import registry
from keyturn.audit.context import Context
from keyturn.audit.probe import stub
from keyturn.audit.result import Outcome, Severity, failed, passed, skipped
from keyturn.audit.target import Answer, Session

CHECKS, check = registry("refresh")
ROTATION = "RFC 9700 §4.14.2; RFC 6819 §5.2.2.3"


class NoRotation(Exception):
    """The refresh answer brought no new refresh token."""


async def _fresh(ctx: Context) -> tuple[Session, str]:
    session = await ctx.target.login()
    if session.refresh is None:
        raise NoRotation(f"the login answer carried no refresh token at {ctx.target.profile.refresh_token}")
    return session, session.refresh


async def _rotate(ctx: Context, session: Session, token: str, step: str) -> str:
    """Refresh with ``token``; the successor, or NoRotation with what happened."""
    answer = await ctx.target.refresh(token, session)
    if not answer.ok:
        raise NoRotation(f"{step}: refresh with the current token → {answer.said}")
    if answer.refresh is None or answer.refresh == token:
        raise NoRotation(f"{step}: {answer.said} but the same refresh token stays valid (no rotation)")
    return answer.refresh


def _refused(answer: Answer) -> bool:
    return 400 <= answer.status < 500 and not _limited(answer)


def _limited(*answers: Answer) -> bool:
    """A 429 says nothing about the token: the verdict must wait."""
    return any(a.status == 429 for a in answers)


RATE_LIMITED = "inconclusive: the target answered 429 (rate limited); run the audit again later — "


@check("refresh-rotates", "Each refresh issues a new refresh token", Severity.HIGH, ROTATION)
async def rotates(ctx: Context) -> Outcome:
    """A refresh token that never changes, once stolen, is good for its whole lifetime."""
    session, r0 = await _fresh(ctx)
    try:
        r1 = await _rotate(ctx, session, r0, "refresh")
    except NoRotation as exc:
        return failed(str(exc))
    kind = "JWT" if jws.is_jwt(r1) else "opaque"
    return passed(f"refresh → 2xx with a new {kind} refresh token ({stub(r0)} → {stub(r1)})")


@check("refresh-used-token-dead", "A used refresh token cannot mint again", Severity.HIGH, ROTATION)
async def used_token_dead(ctx: Context) -> Outcome:
    """Replay: the token just rotated away is presented again."""
    session, r0 = await _fresh(ctx)
    try:
        r1 = await _rotate(ctx, session, r0, "first refresh")
    except NoRotation as exc:
        return skipped(str(exc))
    again = await ctx.target.refresh(r0)
    if _limited(again):
        return skipped(RATE_LIMITED + f"the used token again → {again.said}")
    if _refused(again):
        return passed(f"the used token again → {again.said}")
    if again.ok and again.refresh == r1:
        # A grace window that hands back the *same* successor converges
        # retries without creating a second line of tokens.
        return passed(f"the used token again → {again.said} with the same successor (idempotent retry window)")
    if again.ok:
        return failed(f"the used token again → {again.said} with a different new token: every copy of a stolen token keeps working")
    return failed(f"the used token again → {again.said}")


@check("refresh-reuse-revokes", "Reuse of an older refresh token revokes the live one", Severity.HIGH,
       "RFC 9700 §4.14.2; RFC 6819 §5.2.2.3")
async def reuse_revokes(ctx: Context) -> Outcome:
    """Reuse detection: when an old token comes back, thief and victim are indistinguishable, so the whole session must end."""
    session, r0 = await _fresh(ctx)
    try:
        r1 = await _rotate(ctx, session, r0, "first refresh")
        r2 = await _rotate(ctx, session, r1, "second refresh")
    except NoRotation as exc:
        return skipped(str(exc))
    old = await ctx.target.refresh(r0)
    live = await ctx.target.refresh(r2, session)
    evidence = f"R0→R1→R2; R0 again → {old.said}; then the live R2 → {live.said}"
    if _limited(old, live):
        return skipped(RATE_LIMITED + evidence)
    if old.ok:
        return failed(evidence + ": the old token itself was accepted")
    if live.ok:
        return failed(evidence + ": reuse not detected, the live token still works")
    return passed(evidence)


@check("refresh-guess-harmless", "A guessed refresh token does not end the real session", Severity.MEDIUM,
       "RFC 9700 §4.14.2; OWASP ASVS V3.3")
async def guess_harmless(ctx: Context) -> Outcome:
    """Denial by guessing: a near-miss token must not count as reuse and log the victim out."""
    session, r0 = await _fresh(ctx)
    guess = jws.flip(r0)
    ctx.probe.redact.add_token(guess)
    wrong = await ctx.target.refresh(guess)
    real = await ctx.target.refresh(r0, session)
    evidence = f"one character changed → {wrong.said}; then the real token → {real.said}"
    if _limited(wrong, real):
        return skipped(RATE_LIMITED + evidence)
    if wrong.ok:
        return failed(evidence + ": the altered token was accepted")
    if not real.ok:
        return failed(evidence + ": a guess logged the real session out")
    return passed(evidence)
