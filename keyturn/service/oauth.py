"""RFC 7009 token revocation and RFC 7662 introspection (no HTTP here),
composed from the same parts as the rest of the service: the one
genuineness check, the access-token check, ``SessionEnding``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from keyturn.clock import Clock
from keyturn.config import Settings
from keyturn.core import refresh as rt
from keyturn.core.sessions import Session
from keyturn.core.tokens import AccessClaims
from keyturn.errors import BearerError
from keyturn.service.access import AccessTokens
from keyturn.service.ending import SessionEnding
from keyturn.service.events import EventRecorder
from keyturn.service.feed import RevocationNotifier
from keyturn.service.genuine import RefreshCheck
from keyturn.service.guards import AccessDenylist
from keyturn.stores.protocols import SessionStore

INACTIVE: dict[str, Any] = {"active": False}


def _looks_like_refresh(token: str, hint: str | None) -> bool:
    # The hint is only a hint (RFC 7009 §2.1): the token's shape decides.
    return token.startswith(rt.PREFIX)


@dataclass(frozen=True, slots=True, kw_only=True)
class OAuthTokens:
    """Revoke and introspect any token keyturn issued. Built once, by
    ``TokenService``, from the parts it already holds."""

    settings: Settings
    sessions: SessionStore
    check: RefreshCheck
    access: AccessTokens
    ending: SessionEnding
    denylist: AccessDenylist
    revocations: RevocationNotifier
    events: EventRecorder
    clock: Clock

    async def _session(self, token: str) -> tuple[int, Session] | None:
        """A genuine refresh token's generation and its session as stored now."""
        found = await self.check.genuine(token)
        if found is None:
            return None
        session = found.session or await self.sessions.get_session(found.parsed.session_id)
        return None if session is None else (found.parsed.generation, session)

    async def _valid_access(self, token: str) -> AccessClaims | None:
        try:
            return await self.access.verify_access(token)
        except BearerError:
            return None

    async def revoke(self, token: str, hint: str | None = None, *, ip: str | None = None) -> None:
        """RFC 7009 §2.1. A refresh token ends its session and that session's
        access tokens; an access token is denylisted by (iss, jti). Unknown or
        invalid tokens change nothing and are not an error (§2.2)."""
        now = self.clock.now()
        if _looks_like_refresh(token, hint):
            found = await self.check.genuine(token)
            if found is not None:
                sid, user_id = found.parsed.session_id, found.facts.user_id
                if await self.ending.end_session(sid, reason="revoked"):
                    await self.events.record("logout", now, user_id=user_id, session_id=sid, ip=ip, via="revoke")
            return
        claims = await self._valid_access(token)
        if claims is not None:
            await self.denylist.deny_token(claims, now)
            if self.revocations is not None:
                # Resource servers learn it from the feed, until the token expires.
                leeway = self.settings.clock_leeway
                await self.revocations.notify_tokens([(claims.jti, claims.exp + leeway)], now=now)

    async def introspect(self, token: str, hint: str | None = None) -> dict[str, Any]:
        """RFC 7662 §2.2. Any inactive token — unknown, expired, revoked, a
        rotated-out refresh token — gets ``{"active": false}`` and nothing else."""
        now = self.clock.now()
        if _looks_like_refresh(token, hint):
            found = await self._session(token)
            if found is None:
                return INACTIVE
            generation, session = found
            if generation != session.generation or not session.is_live(now):
                return INACTIVE
            return {
                # RFC 7662 §2.2: token_type is an access token's type (RFC 6749
                # §7.1); a refresh token has none, so token_use says what it is.
                "active": True, "token_use": "refresh_token", "sub": session.user_id, "sid": session.id,
                "iss": self.settings.issuer, "exp": int(session.idle_expires_at), "iat": int(session.rotated_at),
            }
        claims = await self._valid_access(token)
        if claims is None or await self.denylist.is_denied(claims, now):
            return INACTIVE
        token_type = "DPoP" if claims.cnf_jkt is not None else "Bearer"
        return {"active": True, "token_type": token_type, "token_use": "access_token", **claims.to_dict()}
