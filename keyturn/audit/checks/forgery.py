"""Forged and misplaced access tokens: each must be refused by the
protected resource that accepted the genuine one."""

from __future__ import annotations

import json

from keyturn.audit import jws
from keyturn.audit.checks.base import accepted, registry
from keyturn.audit.context import Context
from keyturn.audit.profile import Place
from keyturn.audit.result import Outcome, Severity, failed, passed, skipped
from keyturn.audit.target import said

CHECKS, check = registry("forgery")


async def _genuine(ctx: Context) -> tuple[dict[str, object], dict[str, object]] | None:
    """The sample access token's header and claims, after the baseline held."""
    await ctx.baseline()
    session = await ctx.sample()
    assert session.access is not None
    return jws.parts(session.access) if jws.is_jwt(session.access) else None


async def _present(ctx: Context, forgeries: dict[str, str]) -> Outcome:
    """Present each forgery; PASS when every one is refused."""
    seen = []
    for label, token in forgeries.items():
        ctx.probe.redact.add_token(token)
        response = await ctx.target.resource(token)
        seen.append(f"{label} → {said(response)}")
        if accepted(response):
            return failed("accepted: " + "; ".join(seen))
        if response.status_code >= 500:
            return failed("server error: " + "; ".join(seen))
    return passed("; ".join(seen))


@check("jwt-alg-none", "An unsigned token (alg: none) is refused", Severity.HIGH, "RFC 8725 §2.1, §3.1")
async def alg_none(ctx: Context) -> Outcome:
    """alg: none — the token vouches for itself; a library that honours the header accepts it."""
    genuine = await _genuine(ctx)
    if genuine is None:
        return skipped("opaque access token: no JWT to forge")
    header, claims = genuine
    return await _present(ctx, {
        f"alg {alg!r}": jws.encode_unsigned({**header, "alg": alg}, claims) for alg in ("none", "None")
    })


@check("jwt-hs256-public-key", "HS256 keyed with the published public key is refused", Severity.HIGH,
       "RFC 8725 §2.1, §3.1")
async def hs256_public_key(ctx: Context) -> Outcome:
    """Algorithm confusion: HMAC the token with the public key, hoping the verifier uses it as a secret."""
    genuine = await _genuine(ctx)
    if genuine is None:
        return skipped("opaque access token: no JWT to forge")
    response = await ctx.jwks()
    if response is None:
        return skipped("the profile names no JWKS: no public key to confuse")
    keys = _public_keys(response.json() if response.status_code == 200 else {})
    if not keys:
        return skipped("the JWKS holds no public key this check can use")
    header, claims = genuine
    forgeries = {}
    for kid, material in keys[:2]:
        for label, secret in material.items():
            forged_header = {**header, "alg": "HS256", **({"kid": kid} if kid else {})}
            forgeries[f"HS256 with {label} of {kid or 'the key'}"] = jws.sign_hs256(forged_header, claims, secret)
    return await _present(ctx, forgeries)


def _public_keys(jwks: object) -> list[tuple[str | None, dict[str, bytes]]]:
    """(kid, {label: bytes}) for each usable public JWK: its PEM and its JSON."""
    from cryptography.hazmat.primitives import serialization
    from jwt import PyJWK

    out: list[tuple[str | None, dict[str, bytes]]] = []
    keys = jwks.get("keys", []) if isinstance(jwks, dict) else []
    for jwk in keys if isinstance(keys, list) else []:
        if not isinstance(jwk, dict):
            continue
        try:
            key = PyJWK.from_dict(jwk).key
            pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        except Exception:  # an odd key (or a symmetric one) is simply not used for this attack
            continue
        out.append((str(jwk["kid"]) if "kid" in jwk else None, {"PEM": pem, "JWK JSON": json.dumps(jwk).encode()}))
    return out


@check("jwt-signature-stripped", "A token with its signature removed is refused", Severity.HIGH, "RFC 8725 §3.1")
async def signature_stripped(ctx: Context) -> Outcome:
    """Signature stripping: keep header and claims, drop the signature."""
    session = await ctx.sample()
    if await _genuine(ctx) is None or session.access is None:
        return skipped("opaque access token: no JWT to forge")
    head, body, _ = session.access.split(".")
    return await _present(ctx, {"empty signature": f"{head}.{body}.", "no signature part": f"{head}.{body}"})


@check("jwt-claims-tampered", "Changed claims under the original signature are refused", Severity.HIGH,
       "RFC 7515 §5.2; RFC 8725 §3.1")
async def claims_tampered(ctx: Context) -> Outcome:
    """A verifier that decodes without verifying trusts whatever claims it is given."""
    genuine = await _genuine(ctx)
    session = await ctx.sample()
    if genuine is None or session.access is None:
        return skipped("opaque access token: no JWT to forge")
    header, claims = genuine
    exp = claims.get("exp")
    tampered = {**claims, "exp": exp + 86400 if isinstance(exp, int) else 4102444800, "sub": f"{claims.get('sub')}0"}
    signature = session.access.rsplit(".", 1)[1]
    forged = jws.encode_unsigned(header, tampered) + signature
    return await _present(ctx, {"sub and exp changed, signature kept": forged})


@check("jwt-kid-injection", "A kid naming a file or an SQL fragment is refused", Severity.HIGH,
       "RFC 8725 §3.10; OWASP ASVS V3.5.3")
async def kid_injection(ctx: Context) -> Outcome:
    """kid injection: point the key lookup at /dev/null (empty key) or inject SQL that returns a known key."""
    genuine = await _genuine(ctx)
    if genuine is None:
        return skipped("opaque access token: no JWT to forge")
    header, claims = genuine
    return await _present(ctx, {
        "kid ../../dev/null, empty HS256 key": jws.sign_hs256(
            {**header, "alg": "HS256", "kid": "../../../../../../../dev/null"}, claims, b""),
        "kid SQL injection, HS256 key 'k'": jws.sign_hs256(
            {**header, "alg": "HS256", "kid": "x' UNION SELECT 'k' -- "}, claims, b"k"),
    })


@check("refresh-as-bearer", "The refresh token is not accepted as an access token", Severity.HIGH,
       "RFC 8725 §3.11; RFC 9068 §2.1 (typ at+jwt)")
async def refresh_as_bearer(ctx: Context) -> Outcome:
    """Token confusion: a long-lived refresh token works as a bearer wherever access tokens do."""
    await ctx.baseline()
    session = await ctx.sample()
    if session.refresh is None:
        return skipped("the login answer carried no refresh token")
    response = await ctx.target.resource(session.refresh)
    evidence = f"refresh token as the bearer → {said(response)}"
    return failed(evidence) if accepted(response) or response.status_code >= 500 else passed(evidence)


@check("bearer-in-query", "The access token is not accepted from the query string", Severity.MEDIUM,
       "RFC 6750 §2.3, §5.3")
async def bearer_in_query(ctx: Context) -> Outcome:
    """Tokens in URLs end up in logs, history and Referer headers."""
    await ctx.baseline()
    session = await ctx.sample()
    assert session.access is not None
    if ctx.target.profile.resource.token == Place("query", "access_token"):
        return skipped("the profile itself sends the token in the query string")
    response = await ctx.target.resource(session.access, Place("query", "access_token"))
    evidence = f"?access_token=… and no Authorization header → {said(response)}"
    return failed(evidence) if accepted(response) or response.status_code >= 500 else passed(evidence)
