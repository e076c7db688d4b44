"""Online password guessing meets a limit (off unless asked: it may lock
the test account for a while)."""

from __future__ import annotations

import secrets

from keyturn.audit.checks.base import registry
from keyturn.audit.context import Context
from keyturn.audit.result import Outcome, Severity, failed, passed

CHECKS, check = registry("throttling")


@check("login-throttled", "Repeated wrong passwords meet 429", Severity.MEDIUM,
       "OWASP ASVS V2.2.1; RFC 6819 §5.1.4.2.3", default=False)
async def login_throttled(ctx: Context) -> Outcome:
    """Credential guessing: without a limit an attacker tries passwords as fast as the server answers."""
    limit = ctx.wrong_passwords
    ctx.probe.require(limit)
    seen: dict[int, int] = {}
    for attempt in range(1, limit + 1):
        response = await ctx.target.login_request(password=f"wrong-{secrets.token_hex(6)}").send(ctx.probe)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        if response.status_code == 429:
            retry = response.headers.get("retry-after")
            return passed(f"429 after {attempt} wrong password(s)" + (f", Retry-After: {retry}" if retry else ", no Retry-After"))
        if 200 <= response.status_code < 300:
            return failed(f"a wrong password was accepted (attempt {attempt})")
    counts = ", ".join(f"{n}× {status}" for status, n in sorted(seen.items()))
    return failed(f"{limit} wrong passwords, no 429 ({counts})")
