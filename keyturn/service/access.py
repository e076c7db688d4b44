"""Access tokens as ``TokenService`` hands them out and checks them: the
pair a login or refresh returns, minting, and the service-side check
(signature, claims, denylist, DPoP binding). Accounts and refresh mint
through the ``AccessTokens`` they are given.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from keyturn.clock import Clock
from keyturn.config import Settings
from keyturn.core import refresh as rt
from keyturn.core.claims import decode_grants
from keyturn.core.sessions import Session
from keyturn.core.tokens import AccessClaims, peek_kid
from keyturn.errors import InvalidDpopProof, NotDpopBound, SigningKeyRevoked, TokenRevoked
from keyturn.service.guards import AccessDenylist, DpopGuard, DpopRequest
from keyturn.service.keys import KeySet


@dataclass(frozen=True, slots=True)
class TokenPair:
    """What a login or refresh hands out; times are epoch seconds."""

    access_token: str
    refresh_token: str
    session_id: str
    issued_at: float
    access_expires_at: float
    refresh_expires_at: float
    session_expires_at: float
    token_type: str = "Bearer"
    grace: bool = False  # an idempotent retry inside the grace window (metrics)


class AccessTokens:
    """Minting a session's token pair, and checking an access token as the
    service's own routes do."""

    def __init__(
        self, settings: Settings, *, keys: KeySet, mac: rt.RefreshMac, clock: Clock,
        denylist: AccessDenylist, dpop: DpopGuard,
    ) -> None:
        self.settings = settings
        self.keys = keys
        self.mac = mac
        self.clock = clock
        self.denylist = denylist
        self.dpop = dpop
        self._access_ttl = settings.access_token_ttl
        self._client_id = settings.first_party_client_id

    def mint(
        self, sid: str, user_id: str, salt: bytes, generation: int, now: float,
        idle_expires_at: float, absolute_expires_at: float, dpop_jkt: str | None = None,
        *, client_id: str | None = None, grants: str | None = None,
    ) -> TokenPair:
        """A fresh access token and the refresh token of ``generation``;
        ``grants`` are the user's claims and scope as the store returned
        them (``keyturn.core.claims``), ``client_id`` the session's client
        (``None``: the first-party client)."""
        extra = decode_grants(grants)
        iat = int(now)
        # Never past the session's absolute end: the bearer check no longer
        # reads the session, so the token's own exp must carry that limit.
        exp = max(iat + 1, min(iat + self._access_ttl, int(absolute_expires_at)))
        claims = AccessClaims(
            iss=self.settings.issuer, aud=self.settings.audience, sub=user_id, sid=sid,
            jti=rt.b64encode(secrets.token_bytes(12)), iat=iat, exp=exp, cnf_jkt=dpop_jkt,
            scope=extra.scope, client_id=client_id or self._client_id, extra=extra.claims,
        )
        return TokenPair(
            access_token=self.keys.signer(now).sign(claims),
            refresh_token=self.mac.mint(sid, generation, salt),
            session_id=sid,
            issued_at=now,
            access_expires_at=float(claims.exp),
            refresh_expires_at=idle_expires_at,
            session_expires_at=absolute_expires_at,
            token_type="DPoP" if dpop_jkt else "Bearer",
        )

    def pair(self, session: Session, now: float) -> TokenPair:
        """The pair of ``session`` as it stands (its current generation)."""
        return self.mint(
            session.id, session.user_id, session.salt, session.generation, now,
            session.idle_expires_at, session.absolute_expires_at, session.dpop_jkt,
            client_id=session.client_id, grants=session.grants,
        )

    async def verify_access(self, token: str) -> AccessClaims:
        """Signature and claims only (what an offline verifier can know).
        A token verified before is a lookup while its key is still live
        (``KeySet.get`` drops a revoked key); misses get the full check."""
        now = self.clock.now()
        claims = self.keys.verified.hit(token, now, self.keys.get)
        if claims is not None:
            return claims
        kid = peek_kid(token)
        if kid is not None and self.keys.is_revoked(kid):
            raise SigningKeyRevoked()
        if kid is not None and self.keys.get(kid) is None:
            # Maybe another replica just created a key: reload, rate-limited.
            await self.keys.reload_if_stale(now)
        return self.keys.verified.check(
            token, keys=self.keys.get, algorithms=self.keys.algorithms,
            issuer=self.settings.issuer, audience=self.settings.audience,
            leeway=self.settings.clock_leeway, now=now,
        )

    async def check_access(
        self, token: str, *, scheme: str = "bearer", dpop: DpopRequest | None = None
    ) -> AccessClaims:
        """An access token as the service itself checks it: signature and
        claims, then the denylist (by session id and by (iss, jti): one O(1)
        lookup that replaces reading the session — every path that ends a
        session denylists it *before* revoking it, and exp never outlives
        the session), then the DPoP proof for a key-bound token."""
        claims = await self.verify_access(token)
        now = self.clock.now()
        if await self.denylist.is_denied(claims, now):  # a store fault is a 503, never a pass
            raise TokenRevoked()
        if claims.cnf_jkt is not None:
            if scheme.lower() != "dpop":
                # RFC 9449 §7.1: a bound token is not a bearer token.
                raise InvalidDpopProof("this access token is DPoP-bound: use the DPoP scheme with a proof")
            proof = await self.dpop.verify(dpop, now, access_token=token)
            if proof.jkt != claims.cnf_jkt:
                raise InvalidDpopProof("the DPoP proof is from another key")
        elif scheme.lower() != "bearer":
            raise NotDpopBound()
        return claims
