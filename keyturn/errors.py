"""The keyturn error tree: one base class, a stable ``code`` per subclass.

Codes are public API (clients branch on them), so they are listed in the
docs and never renamed. ``error`` is the RFC 6749 §5.2 / RFC 6750 §3.1 wire
code the HTTP layer renders next to ``code``; ``status`` is the status on
``/auth/*``. The description is safe to show: internal detail is logged,
never serialised.
"""

from __future__ import annotations


class KeyturnError(Exception):
    """Base of every error keyturn shows to a caller."""

    code: str = "server_error"
    error: str = "server_error"
    status: int = 500
    description: str = "internal error"

    def __init__(self, description: str | None = None) -> None:
        if description is not None:
            self.description = description
        super().__init__(self.description)


class BadRequest(KeyturnError):
    """RFC 6749 §5.2: the request is missing a parameter or is malformed."""

    code = "invalid_request"
    error = "invalid_request"
    status = 400
    description = "the request is malformed"


class PayloadTooLarge(BadRequest):
    code = "payload_too_large"
    status = 413
    description = "the request body is too large"


class RegistrationClosed(KeyturnError):
    code = "registration_closed"
    error = "access_denied"
    status = 403
    description = "registration is closed"


class UsernameTaken(KeyturnError):
    code = "username_taken"
    error = "invalid_request"
    status = 409
    description = "that username is taken"


class ClientNameTaken(KeyturnError):
    code = "client_name_taken"
    error = "invalid_request"
    status = 409
    description = "that client name is taken"


class UnsupportedGrantType(BadRequest):
    """RFC 6749 §5.2 ``unsupported_grant_type``: "The authorization grant
    type is not supported by the authorization server"."""

    code = "unsupported_grant_type"
    error = "unsupported_grant_type"
    description = "only grant_type=refresh_token is supported here"


class WeakPassword(BadRequest):
    code = "weak_password"
    description = "the password does not meet the password rules"


class NotFound(KeyturnError):
    code = "not_found"
    error = "invalid_request"
    status = 404
    description = "not found"


class UnknownUser(NotFound):
    description = "no such user"


class CsrfRejected(KeyturnError):
    """A cookie-authenticated call without the proof that it came from our
    own page (the ``X-Keyturn-Cookie`` header, a same-origin ``Origin``)."""

    code = "csrf_rejected"
    error = "invalid_request"
    status = 403
    description = "cookie requests need the X-Keyturn-Cookie header and a same-origin Origin"


# --- login -----------------------------------------------------------------


class InvalidCredentials(KeyturnError):
    """Same body for unknown user, wrong password and disabled user."""

    code = "invalid_credentials"
    error = "invalid_grant"
    status = 401
    description = "invalid username or password"


class RateLimited(KeyturnError):
    code = "rate_limited"
    error = "slow_down"
    status = 429
    description = "too many attempts; retry later"

    def __init__(self, retry_after: float, description: str | None = None) -> None:
        super().__init__(description)
        # Whole seconds, at least 1 (RFC 9110 §10.2.3 delay-seconds).
        self.retry_after = max(1, int(-(-retry_after // 1)))


class Overloaded(RateLimited):
    """Password hashing is saturated: answered at once with 503 and
    ``Retry-After`` rather than queued (refreshes never wait behind it)."""

    code = "overloaded"
    error = "temporarily_unavailable"
    status = 503
    description = "the service is busy; retry shortly"


# --- refresh (RFC 6749 §5.2 invalid_grant) ---------------------------------


class RefreshError(KeyturnError):
    """A refresh grant that cannot be honoured (RFC 6749 §5.2 ``invalid_grant``:
    "the provided authorization grant ... or refresh token is invalid, expired,
    revoked ... or was issued to another client")."""

    error = "invalid_grant"
    status = 401
    code = "refresh_token_invalid"
    description = "the refresh token is invalid"


class MissingRefreshToken(RefreshError):
    error = "invalid_request"
    status = 400
    code = "missing_refresh_token"
    description = "no refresh token was sent"


class RefreshTokenInvalid(RefreshError):
    code = "refresh_token_invalid"
    description = "the refresh token is invalid"


class RefreshTokenExpired(RefreshError):
    code = "refresh_token_expired"
    description = "the refresh token has expired; log in again"


class RefreshTokenReused(RefreshError):
    code = "refresh_token_reused"
    description = "the refresh token was already used; the session has been revoked"


class SessionRevoked(RefreshError):
    code = "session_revoked"
    description = "the session has been revoked; log in again"


class BindingMismatch(RefreshError):
    code = "binding_mismatch"
    description = "the refresh token is bound to another client"


# --- bearer (RFC 6750 §3.1 invalid_token) -----------------------------------


class BearerError(KeyturnError):
    """RFC 6750 §3.1 ``invalid_token``: "The access token provided is expired,
    revoked, malformed, or invalid for other reasons"."""

    error = "invalid_token"
    status = 401
    code = "token_invalid"
    description = "the access token is invalid"


class TokenInvalid(BearerError):
    code = "token_invalid"


class TokenExpired(BearerError):
    """Only for a well-formed, correctly signed, merely expired token: the one
    case where a refresh helps."""

    code = "token_expired"
    description = "the access token has expired"


class SigningKeyRevoked(TokenExpired):
    """The token was signed with a key since revoked as compromised: the
    token is refused, but its session is fine, so a refresh helps (a
    ``TokenExpired`` for every client that only knows that)."""

    code = "signing_key_revoked"
    description = "the access token's signing key was revoked; refresh to get a new token"


class TokenRevoked(BearerError):
    code = "token_revoked"
    description = "the access token has been revoked"


class MissingToken(BearerError):
    """No token at all (or an unsupported scheme): RFC 6750 §3.1 says the
    challenge SHOULD NOT carry an error code then."""

    code = "token_invalid"
    description = "no bearer token was sent"


class NotDpopBound(TokenInvalid):
    """An access token with no ``cnf.jkt`` sent under the DPoP scheme: the
    service and the Verifier answer it alike (a Bearer challenge, so the
    client learns which scheme the token is for)."""

    description = "this access token is not DPoP-bound: use the Bearer scheme"


# --- proof of possession and client authentication -------------------------


class InvalidDpopProof(KeyturnError):
    """RFC 9449 §7.1 / §5: "invalid_dpop_proof" — the DPoP proof is missing,
    malformed, replayed or does not match the key the session is bound to."""

    code = "invalid_dpop_proof"
    error = "invalid_dpop_proof"
    status = 401
    description = "the DPoP proof is invalid"


class UseDpopNonce(InvalidDpopProof):
    """RFC 9449 §8 / §9 ``use_dpop_nonce``: the server requires a nonce it
    provided (``DPoP-Nonce`` header of this answer) in the proof. 400 at the
    token endpoints (§8), 401 at a protected resource (§9). Not a guess: it
    is a normal step of the protocol, retried once with the nonce."""

    code = "use_dpop_nonce"
    error = "use_dpop_nonce"
    description = "the DPoP proof must carry the nonce given in the DPoP-Nonce header"

    def __init__(self, nonce: str, *, at_resource: bool) -> None:
        super().__init__()
        self.nonce = nonce
        self.status = 401 if at_resource else 400


class InsufficientScope(BearerError):
    """RFC 6750 §3.1 ``insufficient_scope``: "The request requires higher
    privileges than provided by the access token" (403)."""

    code = "insufficient_scope"
    error = "insufficient_scope"
    status = 403
    description = "the access token lacks a required scope"

    def __init__(self, scope: str = "", description: str | None = None) -> None:
        super().__init__(description)
        self.scope = scope  # RFC 6750 §3: the scope the resource needs


class InvalidClient(KeyturnError):
    """RFC 6749 §5.2 ``invalid_client``: "Client authentication failed"
    (a resource server: introspection, the revocation feed)."""

    code = "invalid_client"
    error = "invalid_client"
    status = 401
    description = "client authentication failed"

    def __init__(self, description: str | None = None, *, challenge: bool = True) -> None:
        super().__init__(description)
        # RFC 6749 §5.2: a WWW-Authenticate challenge when the client used
        # (or should have used) the Authorization header; none for
        # credentials sent in the form body.
        self.challenge = challenge


class UnauthorizedClient(KeyturnError):
    """RFC 6749 §5.2 ``unauthorized_client``: "The authenticated client is
    not authorized to use this" — here, a client without ``sessions:issue``
    at ``/backend/sessions``."""

    code = "unauthorized_client"
    error = "unauthorized_client"
    status = 403
    description = "this client may not open or end sessions (it needs the scope sessions:issue)"


class SubjectTaken(KeyturnError):
    """A backend named a subject that is one of keyturn's own users: a
    backend vouches for its app's users only, never for keyturn's."""

    code = "subject_taken"
    error = "invalid_request"
    status = 409
    description = "subject: this id belongs to a user keyturn itself authenticates"


class SubjectDisabled(KeyturnError):
    """The subject was disabled by an operator (``keyturn users disable``)."""

    code = "subject_disabled"
    error = "access_denied"
    status = 403
    description = "this subject is disabled"


# --- infrastructure ----------------------------------------------------------


class StoreUnavailable(KeyturnError):
    """A store could not be reached: fail closed, never count it as reuse."""

    code = "store_unavailable"
    error = "temporarily_unavailable"
    status = 503
    description = "the token store is unavailable; retry shortly"


class ConfigError(KeyturnError):
    """A bad setting; the message names it. Raised at start, never per request."""

    code = "config_error"


def _codes(cls: type[KeyturnError]) -> set[str]:
    found = {cls.code}
    for sub in cls.__subclasses__():
        found |= _codes(sub)
    return found


def all_codes() -> tuple[str, ...]:
    """Every code of the tree, subclasses defined elsewhere included."""
    return tuple(sorted(_codes(KeyturnError) - {ConfigError.code}))


ALL_CODES: tuple[str, ...] = all_codes()
