"""What a browser may do with the refresh endpoint: no credentialed
cross-origin calls, and a refresh cookie scripts cannot read."""

from __future__ import annotations

from keyturn.audit.checks.base import registry
from keyturn.audit.context import Context
from keyturn.audit.result import Outcome, Severity, failed, passed, skipped, warned
from keyturn.audit.target import said

CHECKS, check = registry("transport")
FOREIGN = "https://audit-foreign.example"


@check("cors-refresh", "The refresh endpoint grants no cross-origin credentialed calls", Severity.HIGH,
       "OWASP ASVS V14.5.3; RFC 6819 §4.4.1.8")
async def cors_refresh(ctx: Context) -> Outcome:
    """CORS reflection: a foreign page that may call refresh with credentials reads fresh tokens."""
    endpoint = ctx.target.profile.refresh
    response = await ctx.probe.send("OPTIONS", endpoint.path, headers={
        "Origin": FOREIGN, "Access-Control-Request-Method": endpoint.method,
        "Access-Control-Request-Headers": "content-type, authorization, refresh",
    })
    allow = response.headers.get("access-control-allow-origin")
    creds = response.headers.get("access-control-allow-credentials", "").lower() == "true"
    evidence = (f"preflight from {FOREIGN} → {said(response)}, Allow-Origin: {allow or '(none)'}, "
                f"Allow-Credentials: {'true' if creds else '(none)'}")
    if allow in (FOREIGN, "*", "null") and creds:
        return failed(evidence)
    if allow == FOREIGN:
        return warned(evidence + ": the foreign origin is reflected (without credentials)")
    return passed(evidence)


@check("refresh-cookie-flags", "The refresh cookie is HttpOnly, Secure and SameSite", Severity.HIGH,
       "RFC 6265bis §4.1.2; OWASP ASVS V3.4.1–V3.4.3")
async def cookie_flags(ctx: Context) -> Outcome:
    """A refresh cookie that scripts can read, that travels over plain HTTP or that rides cross-site requests is one XSS or CSRF from theft."""
    name = ctx.target.profile.refresh_cookie
    if name is None:
        return skipped("this profile does not carry the refresh token in a cookie")
    session = await ctx.target.login(headers=dict(ctx.target.profile.cookie_login_headers))
    lines = [v for v in session.login_response.headers.get_list("set-cookie") if v.split("=", 1)[0].strip() == name]
    if not lines:
        return failed(f"login → {said(session.login_response)} but no Set-Cookie for {name}")
    attrs = {part.strip().split("=", 1)[0].lower(): part.strip().partition("=")[2].lower() for part in lines[-1].split(";")[1:]}
    problems = []
    if "httponly" not in attrs:
        problems.append("no HttpOnly")
    same_site = attrs.get("samesite")
    if same_site not in ("strict", "lax"):
        problems.append(f"SameSite={same_site}" if same_site else "no SameSite")
    notes = []
    if "secure" not in attrs:
        if ctx.probe.https:
            problems.append("no Secure")
        else:
            notes.append("Secure not judged over plain http (re-run against https)")
    shown = ", ".join(f"{k}={v}" if v else k for k, v in attrs.items() if k in ("httponly", "secure", "samesite", "path"))
    evidence = f"Set-Cookie {name}: {shown}" + ("; " + "; ".join(notes) if notes else "")
    return failed(evidence + " — " + ", ".join(problems)) if problems else passed(evidence)
