"""RFC 7009 token revocation and RFC 7662 introspection, on top of the
token service (no HTTP here)."""

from __future__ import annotations

from typing import Any

from keyturn.core import refresh as rt
from keyturn.core.tokens import AccessClaims
from keyturn.errors import BearerError
from keyturn.service.tokens import TokenService

INACTIVE: dict[str, Any] = {"active": False}


def _looks_like_refresh(token: str, hint: str | None) -> bool:
    # The hint is only a hint (RFC 7009 §2.1): the token's shape decides.
    return token.startswith(rt.PREFIX)


async def _genuine_refresh(service: TokenService, token: str) -> tuple[rt.ParsedRefreshToken, Any] | None:
    parsed = rt.parse(token)
    if parsed is None:
        return None
    session = await service.sessions.get_session(parsed.session_id)
    if session is None or not service.mac.is_genuine(parsed, session.salt):
        return None
    return parsed, session


async def _valid_access(service: TokenService, token: str) -> AccessClaims | None:
    try:
        return await service.verify_access(token)
    except BearerError:
        return None


async def revoke(service: TokenService, token: str, hint: str | None = None, *, ip: str | None = None) -> None:
    """RFC 7009 §2.1. A refresh token ends its session and that session's
    access tokens; an access token is denylisted by (iss, jti). Unknown or
    invalid tokens change nothing and are not an error (§2.2)."""
    now = service.clock.now()
    if _looks_like_refresh(token, hint):
        found = await _genuine_refresh(service, token)
        if found is not None:
            _, session = found
            if await service.end_session(session.id, reason="revoked"):
                await service.events.record("logout", now, user_id=session.user_id, session_id=session.id, ip=ip, via="revoke")
        return
    claims = await _valid_access(service, token)
    if claims is not None:
        await service.denylist.deny_token(claims, now)
        if service.revocations is not None:
            # Resource servers learn it from the feed, until the token expires.
            leeway = service.settings.clock_leeway
            await service.revocations.notify_tokens([(claims.jti, claims.exp + leeway)], now=now)


async def introspect(service: TokenService, token: str, hint: str | None = None) -> dict[str, Any]:
    """RFC 7662 §2.2. Any inactive token — unknown, expired, revoked, a
    rotated-out refresh token — gets ``{"active": false}`` and nothing else."""
    now = service.clock.now()
    if _looks_like_refresh(token, hint):
        found = await _genuine_refresh(service, token)
        if found is None:
            return INACTIVE
        parsed, session = found
        if parsed.generation != session.generation or not session.is_live(now):
            return INACTIVE
        return {
            # RFC 7662 §2.2: token_type is an access token's type (RFC 6749
            # §7.1); a refresh token has none, so token_use says what it is.
            "active": True, "token_use": "refresh_token", "sub": session.user_id, "sid": session.id,
            "iss": service.settings.issuer, "exp": int(session.idle_expires_at), "iat": int(session.rotated_at),
        }
    claims = await _valid_access(service, token)
    if claims is None or await service.denylist.is_denied(claims, now):
        return INACTIVE
    token_type = "DPoP" if claims.cnf_jkt is not None else "Bearer"
    return {"active": True, "token_type": token_type, "token_use": "access_token", **claims.to_dict()}
