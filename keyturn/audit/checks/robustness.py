"""Malformed tokens and bodies get a clear 4xx: never a 5xx, never a stack trace."""

from __future__ import annotations

import httpx

from keyturn.audit.checks.base import leaks_trace, registry
from keyturn.audit.context import Context
from keyturn.audit.result import Outcome, Severity, failed, passed
from keyturn.audit.target import Request, request_for, said

CHECKS, check = registry("robustness")
REFERENCE = "OWASP ASVS V7.4.1, V13.1; RFC 6749 §5.2"

BAD_REFRESH = {
    "empty": "", "a.b.c": "a.b.c", "alg none JWT": "eyJhbGciOiJub25lIn0.e30.", "SQL quote": "' OR '1'='1",
    "percent junk": "%00%ff%fe", "6 KB": "x" * 6000,
}
BAD_BEARER = {
    "a.b.c": "a.b.c", "bad base64 JWT": "eyJ!!!.eyJ!!!.sig", "header not JSON": "bm90IGpzb24.e30.c2ln",
    "6 KB": "y" * 6000,
}


def _judge(rows: list[tuple[str, httpx.Response]]) -> Outcome:
    bad = [f"{label} → {said(r)}" + (" with a stack trace" if leaks_trace(r) else "")
           for label, r in rows if r.status_code >= 500 or leaks_trace(r)]
    counts: dict[str, int] = {}
    for _, r in rows:
        counts[str(r.status_code)] = counts.get(str(r.status_code), 0) + 1
    summary = f"{len(rows)} malformed inputs → " + ", ".join(f"{n}× {s}" for s, n in sorted(counts.items()))
    return failed(summary + "; " + "; ".join(bad)) if bad else passed(summary + "; no 5xx, no stack trace")


@check("malformed-tokens", "Malformed tokens get a 4xx, not a 5xx or a stack trace", Severity.MEDIUM, REFERENCE)
async def malformed_tokens(ctx: Context) -> Outcome:
    """Parser abuse: a token a decoder chokes on must not crash the handler or print its internals."""
    ctx.probe.require(len(BAD_REFRESH) + len(BAD_BEARER))
    rows = []
    for label, token in BAD_REFRESH.items():
        rows.append((f"refresh {label}", await request_for(ctx.target.profile.refresh, token).send(ctx.probe)))
    for label, token in BAD_BEARER.items():
        rows.append((f"bearer {label}", await ctx.target.resource(token)))
    return _judge(rows)


@check("malformed-bodies", "Malformed request bodies get a 4xx, not a 5xx or a stack trace", Severity.MEDIUM, REFERENCE)
async def malformed_bodies(ctx: Context) -> Outcome:
    """Type confusion and broken JSON: a body the handler did not expect must be refused, not explode."""
    profile = ctx.target.profile
    bodies: dict[str, tuple[str, bytes, str]] = {
        "login: broken JSON": ("login", b'{"username": ', "application/json"),
        "login: JSON array": ("login", b"[1, 2]", "application/json"),
        "login: wrong types": ("login", b'{"username": 1, "password": {"a": []}}', "application/json"),
        "login: not UTF-8": ("login", b'{"username": "\xff\xfe"}', "application/json"),
        "refresh: broken JSON": ("refresh", b"{{{", "application/json"),
        "refresh: token is an object": ("refresh", b'{"refresh_token": {"$ne": null}}', "application/json"),
        "refresh: broken form": ("refresh", b"refresh_token=%ZZ&&==", "application/x-www-form-urlencoded"),
    }
    ctx.probe.require(len(bodies))
    rows = []
    for label, (which, raw, content_type) in bodies.items():
        endpoint = profile.login if which == "login" else profile.refresh
        req = Request(endpoint.method, endpoint.path, headers={**endpoint.headers, "Content-Type": content_type},
                      raw_body=raw)
        rows.append((label, await req.send(ctx.probe)))
    return _judge(rows)
