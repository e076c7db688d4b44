"""N concurrent refreshes of one token (RFC 9700 §4.14.2; rule 2, "exactly
once", of docs/concepts.md): one race, three verdicts — did the session fork, did the race log
anyone out, and does the session survive it."""

from __future__ import annotations

from dataclasses import dataclass, replace

from keyturn.audit.checks.base import registry
from keyturn.audit.context import Context
from keyturn.audit.result import Outcome, Severity, failed, passed, skipped, warned
from keyturn.audit.target import Answer, Session

CHECKS, check = registry("race")
RACE = "RFC 9700 §4.14.2; OWASP ASVS V3.3"
# A race window missed once (a busy server, a slow network) may be hit the
# next time: up to this many races, stopping at the first fork.
ROUNDS = 3


@dataclass(frozen=True)
class Race:
    answers: tuple[Answer, ...]
    successors: tuple[str, ...]  # distinct new refresh tokens, in answer order
    survivor: str | None  # what refreshing with a successor said, first success
    tried: int
    rounds: int = 1

    @property
    def ok(self) -> int:
        return sum(1 for a in self.answers if a.ok)

    def statuses(self) -> str:
        counts: dict[str, int] = {}
        for answer in self.answers:
            counts[answer.said] = counts.get(answer.said, 0) + 1
        return ", ".join(f"{n}× {said}" for said, n in sorted(counts.items()))


async def _race(ctx: Context) -> Race:
    need = 2 + 2 * ctx.concurrency
    ctx.probe.require(need)
    result = await _round(ctx)
    while len(result.successors) <= 1 and result.rounds < ROUNDS and ctx.probe.available() >= need \
            and ctx.probe.seconds_left() > 5:
        result = replace(await _round(ctx), rounds=result.rounds + 1)
    return result


async def _round(ctx: Context) -> Race:
    """One session, N refreshes of its token at once, then a refresh with a successor."""
    n = ctx.concurrency
    session: Session = await ctx.target.login()
    token = session.refresh
    if token is None:
        raise LookupError("the login answer carried no refresh token")
    answers = await ctx.target.refresh_together(token, n)
    successors: list[str] = []
    for answer in answers:
        if answer.ok and answer.refresh and answer.refresh not in successors:
            successors.append(answer.refresh)
    survivor = None
    tried = 0
    for successor in successors:
        tried += 1
        after = await ctx.target.refresh(successor, session)
        if after.ok:
            survivor = after.said
            break
    return Race(tuple(answers), tuple(successors), survivor, tried)


def _rounds(r: Race) -> str:
    return f"the fork in race {r.rounds} of up to {ROUNDS}" if len(r.successors) > 1 else f"{r.rounds} race(s), the last shown"


async def race(ctx: Context) -> Race:
    return await ctx.once("race", lambda: _race(ctx))


@check("race-no-fork", "Concurrent refreshes of one token do not fork the session", Severity.HIGH, RACE)
async def no_fork(ctx: Context) -> Outcome:
    """GET-compare-SET race: N parallel refreshes all pass the compare and each mints its own successor."""
    try:
        r = await race(ctx)
    except LookupError as exc:
        return skipped(str(exc))
    evidence = (f"{len(r.answers)} concurrent refreshes, {_rounds(r)}: {r.statuses()}; "
                f"{len(r.successors)} distinct successor(s)")
    if len(r.successors) > 1:
        return failed(evidence + ": one token became several live lines (not atomic)")
    return passed(evidence)


@check("race-no-logout", "Concurrent refreshes do not fail the legitimate client", Severity.MEDIUM, RACE)
async def no_logout(ctx: Context) -> Outcome:
    """Tabs and retries refreshing at once: a strict server refuses all but one, and a client without single-flight is logged out."""
    try:
        r = await race(ctx)
    except LookupError as exc:
        return skipped(str(exc))
    refused = len(r.answers) - r.ok
    evidence = f"{len(r.answers)} concurrent refreshes, {_rounds(r)}: {r.statuses()}"
    if r.ok == 0:
        return failed(evidence + ": every concurrent refresh failed")
    if refused:
        return warned(evidence + f": {refused} refused — clients must refresh single-flight or be logged out")
    return passed(evidence)


@check("race-session-survives", "The session still refreshes after the race", Severity.HIGH, RACE)
async def session_survives(ctx: Context) -> Outcome:
    """After the race the legitimate user must still hold a working token."""
    try:
        r = await race(ctx)
    except LookupError as exc:
        return skipped(str(exc))
    if r.survivor is None:
        return failed(f"none of {len(r.successors)} successor(s) refreshed again: the race ended the session")
    return passed(f"a successor refreshed again → {r.survivor} (tried {r.tried} of {len(r.successors)})")
