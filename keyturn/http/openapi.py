"""The OpenAPI 3.1 document of the HTTP contract, built from the route table
and pydantic models (used here for schemas only; the handlers parse by hand,
so the hot paths carry no validation machinery)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field

from keyturn.errors import ALL_CODES


class Credentials(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class RefreshRequest(BaseModel):
    refresh_token: str | None = None


class PasswordChange(BaseModel):
    current_password: str
    new_password: str


class TokenAnswer(BaseModel):
    token_type: str
    access_token: str
    expires_in: int
    access_token_expires_at: str
    refresh_token: str
    refresh_token_expires_in: int
    refresh_token_expires_at: str
    session_expires_at: str
    issued_at: str
    session_id: str


class Registered(BaseModel):
    user_id: str


class Me(BaseModel):
    user_id: str
    username: str
    session_id: str


class SessionInfo(BaseModel):
    id: str
    created_at: str
    last_used_at: str
    ip: str | None
    user_agent: str | None
    current: bool


class SessionList(BaseModel):
    sessions: list[SessionInfo]


class Error(BaseModel):
    error: str
    error_description: str
    code: str = Field(description="Stable keyturn code: " + ", ".join(ALL_CODES))


class Status(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    stores: dict[str, str]
    detail: dict[str, str] | None = None  # per failing store: masked URL and reason


class RevokedSession(BaseModel):
    """A revoked session (``sid``) or one revoked access token (``jti``)."""

    sid: str | None = None
    jti: str | None = None
    exp: int


class RevocationList(BaseModel):
    cursor: str
    revoked: list[RevokedSession]


class RefreshForm(BaseModel):
    grant_type: str
    refresh_token: str | None = None


class TokenForm(BaseModel):
    token: str
    token_type_hint: str | None = None


class Introspection(BaseModel):
    """RFC 7662 §2.2: ``{"active": false}`` alone for any inactive token."""

    active: bool
    token_type: str | None = None
    iss: str | None = None
    aud: str | None = None
    sub: str | None = None
    sid: str | None = None
    jti: str | None = None
    iat: int | None = None
    exp: int | None = None
    scope: str | None = None
    cnf: dict[str, str] | None = None


class BackendSession(BaseModel):
    """A session for a subject the calling backend authenticated (docs/adopt.md)."""

    subject: str = Field(min_length=1, max_length=200, description="Your app's user id: the tokens' `sub`, verbatim.")
    claims: dict[str, Any] | None = Field(None, description="Replaces the subject's claims (≤ 2 KiB, no reserved names).")
    scope: str | None = Field(None, description="Replaces the subject's scope (space-separated).")
    ip: str | None = Field(None, description="The end user's address (binding); default: the caller's.")
    user_agent: str | None = Field(None, description="The end user's user agent; default: the caller's.")


class BackendSubject(BaseModel):
    subject: str = Field(min_length=1, max_length=200)


class BackendRevoked(BaseModel):
    sessions_ended: int


_MODELS: list[type[BaseModel]] = [Credentials, RefreshRequest, PasswordChange, TokenAnswer, Registered, Me, SessionList,
           Error, Status, Readiness, RefreshForm, RevocationList, TokenForm, Introspection,
           BackendSession, BackendSubject, BackendRevoked]


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(model: type[BaseModel]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": _ref(model)}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): {"description": "error", **_json(Error)} for s in statuses}


_BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
_OPS: dict[str, dict[str, Any]] = {
    "register": {"requestBody": {"required": True, **_json(Credentials)},
                 "responses": {"201": {"description": "created", **_json(Registered)}, **_errors(400, 403, 409, 413, 503)}},
    "login": {"requestBody": {"required": True, **_json(Credentials)},
              "responses": {"200": {"description": "tokens", **_json(TokenAnswer)}, **_errors(400, 401, 413, 429, 503)}},
    "refresh": {"requestBody": {"required": False, **_json(RefreshRequest)},
                "parameters": [{"name": "Refresh", "in": "header", "required": False, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "tokens", **_json(TokenAnswer)}, **_errors(400, 401, 413, 429, 503)}},
    "reissue": {"parameters": [{"name": "Refresh", "in": "header", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "tokens", **_json(TokenAnswer)}, **_errors(400, 401, 429, 503)}},
    "oauth_token": {"requestBody": {"required": True, "content": {
                        "application/x-www-form-urlencoded": {"schema": _ref(RefreshForm)}}},
                    "responses": {"200": {"description": "tokens", **_json(TokenAnswer)}, **_errors(400, 413, 429, 503)}},
    "logout": {"security": _BEARER, "responses": {"204": {"description": "logged out"}, **_errors(401, 503)}},
    "logout_all": {"security": _BEARER, "responses": {"204": {"description": "all sessions ended"}, **_errors(401, 503)}},
    "logout_others": {"security": _BEARER, "responses": {"204": {"description": "other sessions ended"}, **_errors(401, 503)}},
    "change_password": {"security": _BEARER, "requestBody": {"required": True, **_json(PasswordChange)},
                        "responses": {"204": {"description": "changed"}, **_errors(400, 401, 413, 503)}},
    "me": {"security": _BEARER, "responses": {"200": {"description": "you", **_json(Me)}, **_errors(401, 503)}},
    "list_sessions": {"security": _BEARER,
                      "responses": {"200": {"description": "live sessions", **_json(SessionList)}, **_errors(401, 503)}},
    "delete_session": {"security": _BEARER,
                       "parameters": [{"name": "session_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                       "responses": {"204": {"description": "revoked"}, **_errors(401, 404, 503)}},
    "oauth_revoke": {"requestBody": {"required": True, "content": {
                         "application/x-www-form-urlencoded": {"schema": _ref(TokenForm)}}},
                     "responses": {"200": {"description": "revoked (or unknown: RFC 7009 §2.2)"}, **_errors(400, 401, 413, 503)}},
    "oauth_introspect": {"security": [{"basic": []}], "requestBody": {"required": True, "content": {
                             "application/x-www-form-urlencoded": {"schema": _ref(TokenForm)}}},
                         "responses": {"200": {"description": "RFC 7662 answer", **_json(Introspection)},
                                       **_errors(400, 401, 413, 503)}},
    "revocations": {
        "security": [{"basic": []}],
        "parameters": [{"name": "since", "in": "query", "required": False, "schema": {"type": "string"}},
                       {"name": "wait", "in": "query", "required": False, "schema": {"type": "number"}}],
        "responses": {"200": {"description": "revoked sessions", **_json(RevocationList)}, **_errors(400, 401, 503)}},
    "backend_sessions": {"security": [{"basic": []}], "requestBody": {"required": True, **_json(BackendSession)},
                         "responses": {"200": {"description": "tokens", **_json(TokenAnswer)},
                                       **_errors(400, 401, 403, 409, 413, 503)}},
    "backend_sessions_revoke": {"security": [{"basic": []}], "requestBody": {"required": True, **_json(BackendSubject)},
                                "responses": {"200": {"description": "sessions ended", **_json(BackendRevoked)},
                                              **_errors(400, 401, 403, 409, 413, 503)}},
    "jwks": {"responses": {"200": {"description": "JWK Set (RFC 7517)", "content": {
        "application/jwk-set+json": {"schema": {"type": "object"}}}}}},
    "authorization_server_metadata": {"responses": {"200": {"description": "RFC 8414 metadata", "content": {
        "application/json": {"schema": {"type": "object"}}}}}},
    "healthz": {"responses": {"200": {"description": "alive", **_json(Status)}}},
    "metrics": {"security": _BEARER, "description": "Prometheus text format; the bearer is KEYTURN_METRICS_TOKEN when set.",
                "responses": {"200": {"description": "metrics", "content": {"text/plain": {"schema": {"type": "string"}}}},
                              **_errors(401)}},
    "readyz": {"responses": {"200": {"description": "ready", **_json(Readiness)},
                             "503": {"description": "a store is down", **_json(Readiness)}}},
}


# What /docs shows for each operation: a sentence, not a function name or a
# docstring's first line with its markup; grouped by who calls it.
_SUMMARIES: dict[str, str] = {
    "register": "Create an account",
    "login": "Log in: an access token and a refresh token",
    "refresh": "Rotate a refresh token (JSON body, Refresh header or cookie)",
    "reissue": "Rotate the refresh token in the Refresh header",
    "oauth_token": "RFC 6749 refresh grant",
    "logout": "Log out this session",
    "logout_all": "Log out every session of this user",
    "logout_others": "Log out every other session of this user",
    "change_password": "Change the password; other sessions end",
    "me": "Who this access token belongs to",
    "list_sessions": "This user's live sessions",
    "delete_session": "Sign one of this user's sessions out",
    "oauth_revoke": "RFC 7009 revocation of a refresh or access token",
    "oauth_introspect": "RFC 7662 introspection, for resource servers",
    "revocations": "Revoked sessions and tokens since a cursor, for resource servers",
    "jwks": "Public signing keys (JWK Set)",
    "healthz": "Liveness",
    "readyz": "Readiness: every store answers",
    "metrics": "Prometheus metrics",
}
_TAGS = (  # path prefix -> tag; the first that matches
    ("/auth/revocations", "resource servers"), ("/oauth/introspect", "resource servers"),
    ("/.well-known", "resource servers"), ("/oauth", "OAuth"), ("/auth/sessions", "sessions"),
    ("/auth", "accounts and tokens"), ("/backend", "backends"), ("/", "operations"),
)
_MARKUP = re.compile(r"``|:\w+:`([^`]*)`|`")


def summary_of(op_id: str, endpoint: Any) -> str:
    """The table's sentence; else the docstring's first line without reST
    markup; else the operation id in words."""
    if op_id in _SUMMARIES:
        return _SUMMARIES[op_id]
    doc = (endpoint.__doc__ or "").strip().split("\n")[0]
    return _MARKUP.sub(lambda m: m.group(1) or "", doc).strip() or op_id.replace("_", " ").capitalize()


def tag_of(path: str) -> str:
    return next(tag for prefix, tag in _TAGS if path.startswith(prefix))


def openapi_document(routes: list[tuple[str, str, Any, str]], *, metrics_protected: bool = True) -> dict[str, Any]:
    """The document for these routes. ``/metrics`` is described as
    bearer-protected only when ``KEYTURN_METRICS_TOKEN`` is set, so the
    document says what the server does."""
    paths: dict[str, dict[str, Any]] = {}
    for method, path, endpoint, op_id in routes:
        op: dict[str, Any] = {"operationId": op_id, "summary": summary_of(op_id, endpoint), "tags": [tag_of(path)]}
        op.update(_OPS.get(op_id, {"responses": {"200": {"description": "ok"}}}))
        if op_id == "metrics" and not metrics_protected:
            op = {k: v for k, v in op.items() if k != "security"}
            op["responses"] = {k: v for k, v in op["responses"].items() if k != "401"}
        paths.setdefault(path, {})[method.lower()] = op
    schemas: dict[str, Any] = {}
    for model in _MODELS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return {
        "openapi": "3.1.0",
        "info": {"title": "keyturn", "version": "0.1.0",
                 "description": "Rotating refresh tokens and short-lived JWT access tokens."},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                                "basic": {"type": "http", "scheme": "basic"}},
        },
    }
