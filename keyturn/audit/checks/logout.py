"""Ending sessions: after logout neither token works (RFC 7009 §2.1), and
what a new login does to the older sessions (policy, not a verdict)."""

from __future__ import annotations

from dataclasses import dataclass

from keyturn.audit.checks.base import accepted, registry
from keyturn.audit.context import Context
from keyturn.audit.result import Outcome, Severity, failed, passed, skipped
from keyturn.audit.target import said

CHECKS, check = registry("logout")


@dataclass(frozen=True)
class AfterLogout:
    logout: str
    logout_ok: bool
    refresh: str
    refresh_ok: bool
    access: str
    access_ok: bool


class NoLogout(Exception):
    pass


async def _after_logout(ctx: Context) -> AfterLogout:
    target = ctx.target
    if target.profile.logout is None:
        raise NoLogout("the profile has no logout")
    ctx.probe.require(4)
    session = await target.login()
    assert session.access is not None
    access, refresh = session.access, session.refresh
    out = await target.logout(session)
    assert out is not None
    if refresh is not None:
        again = await target.refresh(refresh)
        refresh_said, refresh_ok = again.said, again.ok
    else:
        refresh_said, refresh_ok = "no refresh token to present", False
    resource = await target.resource(access)
    return AfterLogout(said(out), accepted(out), refresh_said, refresh_ok, said(resource), accepted(resource))


async def after_logout(ctx: Context) -> AfterLogout:
    return await ctx.once("logout", lambda: _after_logout(ctx))


@check("logout-refresh-dead", "After logout the refresh token is refused", Severity.HIGH, "RFC 7009 §2.1; OWASP ASVS V3.3.1")
async def refresh_dead(ctx: Context) -> Outcome:
    """Logout that leaves the refresh token alive ends nothing for whoever copied it."""
    try:
        r = await after_logout(ctx)
    except NoLogout as exc:
        return skipped(str(exc))
    evidence = f"logout → {r.logout}; the refresh token after → {r.refresh}"
    if not r.logout_ok:
        return failed(evidence + ": the logout itself failed")
    return failed(evidence) if r.refresh_ok else passed(evidence)


@check("logout-access-dead", "After logout the access token is refused", Severity.MEDIUM,
       "RFC 7009 §2.1; OWASP ASVS V3.3.1")
async def access_dead(ctx: Context) -> Outcome:
    """A stateless access token outlives its logout unless its jti is denylisted until expiry."""
    try:
        r = await after_logout(ctx)
    except NoLogout as exc:
        return skipped(str(exc))
    evidence = f"logout → {r.logout}; the access token after → {r.access}"
    if not r.logout_ok:
        return failed(evidence + ": the logout itself failed")
    return failed(evidence + ": still accepted until it expires") if r.access_ok else passed(evidence)


@check("login-policy", "What a new login does to older sessions (policy)", Severity.INFO,
       "OWASP ASVS V3.3.3; RFC 9700 §4.14.2")
async def login_policy(ctx: Context) -> Outcome:
    """Reported, not judged: "one active login per user" and "many devices" are both legitimate policies."""
    ctx.probe.require(4)
    first = await ctx.target.login()
    await ctx.target.login()
    if first.refresh is None:
        return skipped("the login answer carried no refresh token")
    answer = await ctx.target.refresh(first.refresh, first)
    if answer.ok:
        return passed(f"after a second login the first session still refreshes ({answer.said}): sessions coexist")
    return passed(f"after a second login the first session's refresh → {answer.said}: one active login per user")
