"""What the tokens say about themselves: stated expiry, lifetime, signing
algorithm, and a JWKS that publishes only public keys."""

from __future__ import annotations

import httpx

from keyturn.audit import jws
from keyturn.audit.checks.base import registry
from keyturn.audit.context import Context
from keyturn.audit.profile import Place
from keyturn.audit.result import Outcome, Severity, failed, passed, skipped, warned
from keyturn.audit.target import read_number, read_place, said

CHECKS, check = registry("tokens")

ACCESS_EXPIRY = tuple(Place("json", n) for n in (
    "expires_in", "expiresIn", "access_token_expires_in", "accessTokenExpiresIn", "access_token_expires_at"))
REFRESH_EXPIRY = tuple(Place("json", n) for n in (
    "refresh_token_expires_in", "refresh_expires_in", "refreshTokenExpiresIn", "refresh_token_expires_at",
    "refreshTokenExpiresAt"))
HOUR = 3600
DAY = 24 * HOUR
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")


def _first(places: tuple[Place, ...], fallback: tuple[Place, ...], response: httpx.Response) -> Place | None:
    """The first place that holds a value: the profile's, else the usual names."""
    for place in places or fallback:
        if read_place(response, place) is not None or read_number(response, place) is not None:
            return place
    return None


@check("resource-baseline", "The protected resource accepts the real access token", Severity.INFO,
       "RFC 6750 §2.1")
async def resource_baseline(ctx: Context) -> Outcome:
    """Baseline: the genuine bearer works, so a refused forgery means something."""
    return passed(f"{ctx.target.profile.resource.method} {ctx.target.profile.resource.path} with the real token → "
                  f"{await ctx.baseline()}")


@check("login-expiry", "The login answer states when the tokens expire", Severity.LOW,
       "RFC 6749 §5.1 (expires_in)")
async def login_expiry(ctx: Context) -> Outcome:
    """Clients that are not told the expiry guess it, and refresh late or in a herd."""
    session = await ctx.sample()
    profile = ctx.target.profile
    access = _first(profile.expires_in, ACCESS_EXPIRY, session.login_response)
    refresh = _first(profile.refresh_expires_in, REFRESH_EXPIRY, session.login_response)
    found = f"access expiry: {access or 'not stated'}; refresh expiry: {refresh or 'not stated'}"
    if access and refresh:
        return passed(found)
    return warned(found + " — the client cannot schedule its refresh from the answer")


@check("access-lifetime", "Access tokens are short-lived", Severity.MEDIUM,
       "RFC 6819 §5.1.5.3; OWASP ASVS V3.5")
async def access_lifetime(ctx: Context) -> Outcome:
    """A stolen access token works until it expires; a long lifetime widens that window."""
    session = await ctx.sample()
    assert session.access is not None
    lifetime: float | None = None
    source = ""
    decoded = jws.parts(session.access) if jws.is_jwt(session.access) else None
    if decoded is not None:
        exp, iat = decoded[1].get("exp"), decoded[1].get("iat")
        if isinstance(exp, (int, float)) and isinstance(iat, (int, float)):
            lifetime, source = float(exp - iat), "exp − iat"
        elif "exp" not in decoded[1]:
            return failed("the access token is a JWT without an exp claim: it never expires")
    if lifetime is None:
        for place in ctx.target.profile.expires_in or ACCESS_EXPIRY:
            lifetime = read_number(session.login_response, place)
            if lifetime is not None:
                source = str(place)
                break
    if lifetime is None:
        return warned("lifetime unknown: no exp/iat claims and no expires_in in the login answer")
    text = f"{lifetime:.0f} s ({source})"
    if lifetime <= HOUR:
        return passed(text)
    if lifetime <= DAY:
        return warned(text + ": more than an hour")
    return failed(text + ": more than a day")


@check("jwt-alg", "Access tokens are signed with an asymmetric algorithm", Severity.MEDIUM,
       "RFC 8725 §3.1, §3.5")
async def jwt_alg(ctx: Context) -> Outcome:
    """With HS256 every service that verifies a token holds the secret that forges one."""
    session = await ctx.sample()
    assert session.access is not None
    if not jws.is_jwt(session.access):
        return passed("opaque access token (not a JWT): nothing to verify or forge offline")
    header = jws.parts(session.access)
    assert header is not None
    alg = str(header[0].get("alg"))
    if alg.lower() == "none":
        return failed("the target issues unsigned tokens (alg: none)")
    if alg.upper().startswith("HS"):
        return warned(f"alg {alg}: a shared secret — every verifier can also mint tokens; prefer EdDSA/ES256 with a JWKS")
    return passed(f"alg {alg}" + (f", kid {str(header[0]['kid'])[:40]!r}" if "kid" in header[0] else ""))


@check("jwks-public-only", "The JWKS publishes no private key material", Severity.HIGH,
       "RFC 7517 §4, §6.2.2, §6.3.2; RFC 8725 §3.5")
async def jwks_public_only(ctx: Context) -> Outcome:
    """A JWKS that carries d/p/q/k hands everyone the signing key."""
    response = await ctx.jwks()
    if response is None:
        return skipped("the profile names no JWKS")
    if response.status_code != 200:
        return failed(f"GET {ctx.target.profile.jwks} → {said(response)}")
    try:
        keys = response.json().get("keys")
    except (ValueError, AttributeError):
        return failed("the JWKS is not a JSON object")
    if not isinstance(keys, list):
        return failed("the JWKS has no 'keys' list")
    leaking = [f"{k.get('kid', i)}: {', '.join(m for m in PRIVATE_MEMBERS if m in k)}"
               for i, k in enumerate(keys) if isinstance(k, dict) and any(m in k for m in PRIVATE_MEMBERS)]
    if leaking:
        return failed("private members published — " + "; ".join(leaking))
    kinds = ", ".join(sorted({f"{k.get('kty')}/{k.get('alg', k.get('crv', '?'))}" for k in keys if isinstance(k, dict)}))
    return passed(f"{len(keys)} public key(s): {kinds}")
