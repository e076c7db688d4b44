"""Describing the target: where to log in, refresh, prove a token, log out.

A profile is built in (``keyturn``, ``rfc6749``) or read from a small TOML
file. A *place* says where a token travels, as ``kind:name``:

* in an answer: ``json:field`` (dots for nesting), ``cookie:NAME``, ``header:NAME``;
* in a request: ``json:field``, ``form:field``, ``header:NAME`` (the raw token),
  ``bearer`` (``Authorization: Bearer``), ``cookie:NAME``, ``query:name``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

SEND_KINDS = ("json", "form", "header", "bearer", "cookie", "query")
ANSWER_KINDS = ("json", "cookie", "header")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class ProfileError(ValueError):
    """The profile cannot describe a target; the message says what to fix."""


@dataclass(frozen=True)
class Place:
    """Where a token travels: ``kind`` and a field, header or cookie name."""

    kind: str
    name: str = ""

    @classmethod
    def parse(cls, text: str, kinds: tuple[str, ...], where: str) -> Place:
        kind, _, name = text.partition(":")
        kind = kind.strip().lower()
        if kind not in kinds:
            raise ProfileError(f"{where}: {text!r} is not one of {', '.join(k + ':NAME' if k != 'bearer' else k for k in kinds)}")
        if kind != "bearer" and not name.strip():
            raise ProfileError(f"{where}: {text!r} needs a name after the colon")
        return cls(kind, name.strip())

    def __str__(self) -> str:
        return self.kind if self.kind == "bearer" else f"{self.kind}:{self.name}"


@dataclass(frozen=True)
class Endpoint:
    """One call: method and path, the fixed fields and headers it carries,
    the encoding of its body, and where the token goes (if one does)."""

    method: str
    path: str
    encoding: str = "json"  # json | form
    fields: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    token: Place | None = None
    # Which token the call carries: "access" or "refresh" (logout only;
    # the default is the access token for a bearer call, else the refresh token).
    sends: str = "access"


@dataclass(frozen=True)
class Profile:
    """Everything the checks need to know about a deployment's token API."""

    name: str
    login: Endpoint
    refresh: Endpoint
    resource: Endpoint
    access_token: Place
    refresh_token: Place
    logout: Endpoint | None = None
    jwks: str | None = None
    expires_in: tuple[Place, ...] = ()
    refresh_expires_in: tuple[Place, ...] = ()
    # Extra login headers that ask for the refresh token in a cookie, and its
    # name (the cookie checks need one; a cookie-based login implies it).
    cookie_login_headers: Mapping[str, str] = field(default_factory=dict)
    refresh_cookie: str | None = None


def _json(name: str) -> Place:
    return Place("json", name)


KEYTURN = Profile(
    name="keyturn",
    login=Endpoint("POST", "/auth/login", fields={"username": "{username}", "password": "{password}"}),
    refresh=Endpoint("POST", "/auth/refresh", token=_json("refresh_token")),
    resource=Endpoint("GET", "/auth/me", token=Place("bearer")),
    logout=Endpoint("POST", "/auth/logout", token=Place("bearer")),
    access_token=_json("access_token"),
    refresh_token=_json("refresh_token"),
    jwks="/.well-known/jwks.json",
    expires_in=(_json("expires_in"),),
    refresh_expires_in=(_json("refresh_token_expires_in"),),
    cookie_login_headers={"X-Keyturn-Cookie": "1"},
    refresh_cookie="keyturn_refresh",
)

RFC6749 = Profile(
    name="rfc6749",
    login=Endpoint("POST", "/token", encoding="form",
                   fields={"grant_type": "password", "username": "{username}", "password": "{password}"}),
    refresh=Endpoint("POST", "/token", encoding="form", fields={"grant_type": "refresh_token"},
                     token=Place("form", "refresh_token")),
    resource=Endpoint("GET", "/userinfo", token=Place("bearer")),
    # RFC 7009: revoking the refresh token ends the grant.
    logout=Endpoint("POST", "/revoke", encoding="form", fields={"token_type_hint": "refresh_token"},
                    token=Place("form", "token"), sends="refresh"),
    access_token=_json("access_token"),
    refresh_token=_json("refresh_token"),
    expires_in=(_json("expires_in"),),
    refresh_expires_in=(_json("refresh_expires_in"), _json("refresh_token_expires_in")),
)

BUILTIN = {"keyturn": KEYTURN, "rfc6749": RFC6749}


def _table(data: Mapping[str, object], key: str, where: str) -> Mapping[str, object] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ProfileError(f"{where}: [{key}] must be a table")
    return value


def _str(data: Mapping[str, object], key: str, where: str, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or not value:
        raise ProfileError(f"{where}: {key!r} is required and must be a string")
    return value


def _strings(data: Mapping[str, object], key: str, where: str) -> dict[str, str]:
    value = data.get(key, {})
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ProfileError(f"{where}: {key!r} must be a table of strings")
    return {str(k): str(v) for k, v in value.items()}


def _places(data: Mapping[str, object], key: str, where: str) -> tuple[Place, ...]:
    value = data.get(key, [])
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
        raise ProfileError(f"{where}: {key!r} must be a place or a list of places")
    return tuple(Place.parse(v, ANSWER_KINDS, f"{where}.{key}") for v in items)


_ENDPOINT_KEYS = {"method", "path", "encoding", "body", "fields", "headers", "token_in", "sends"}


def _endpoint(data: Mapping[str, object], name: str, *, token: bool) -> Endpoint:
    unknown = set(data) - _ENDPOINT_KEYS - ({"access_token", "refresh_token", "expires_in", "refresh_expires_in",
                                              "cookie_headers", "refresh_cookie"} if name == "login" else set())
    if unknown:
        raise ProfileError(f"[{name}]: unknown key(s) {', '.join(sorted(unknown))}")
    method = _str(data, "method", f"[{name}]", "POST").upper()
    if method not in METHODS:
        raise ProfileError(f"[{name}]: method {method!r} is not one of {', '.join(METHODS)}")
    path = _str(data, "path", f"[{name}]")
    if not path.startswith("/"):
        raise ProfileError(f"[{name}]: path {path!r} must start with /")
    encoding = _str(data, "encoding", f"[{name}]", "json")
    if encoding not in ("json", "form"):
        raise ProfileError(f"[{name}]: encoding must be 'json' or 'form'")
    fields = {**_strings(data, "fields", f"[{name}]"), **_strings(data, "body", f"[{name}]")}
    place = None
    if token:
        place = Place.parse(_str(data, "token_in", f"[{name}]"), SEND_KINDS, f"[{name}].token_in")
    sends = _str(data, "sends", f"[{name}]", "access" if place is None or place.kind == "bearer" else "refresh")
    if sends not in ("access", "refresh"):
        raise ProfileError(f"[{name}]: sends must be 'access' or 'refresh'")
    return Endpoint(method, path, encoding, fields, _strings(data, "headers", f"[{name}]"), place, sends)


def parse_profile(data: Mapping[str, object], default_name: str = "custom") -> Profile:
    """Build a :class:`Profile` from parsed TOML, or raise :class:`ProfileError`."""
    known = {"name", "login", "refresh", "resource", "logout", "jwks"}
    unknown = set(data) - known
    if unknown:
        raise ProfileError(f"unknown key(s) {', '.join(sorted(unknown))}; expected {', '.join(sorted(known))}")
    sections = {}
    for key in ("login", "refresh", "resource"):
        table = _table(data, key, "profile")
        if table is None:
            raise ProfileError(f"the [{key}] table is required")
        sections[key] = table
    login = sections["login"]
    if not any("{username}" in v for v in _strings(login, "body", "[login]").values()) and not any(
        "{username}" in v for v in _strings(login, "fields", "[login]").values()
    ):
        raise ProfileError("[login]: the body needs a field with {username} (and one with {password})")
    logout_table = _table(data, "logout", "profile")
    cookie = login.get("refresh_cookie")
    refresh_place = Place.parse(_str(login, "refresh_token", "[login]"), ANSWER_KINDS, "[login].refresh_token")
    if cookie is None and refresh_place.kind == "cookie":
        cookie = refresh_place.name
    jwks = data.get("jwks")
    if jwks is not None and not isinstance(jwks, str):
        raise ProfileError("'jwks' must be a path or URL string")
    return Profile(
        name=str(data.get("name", default_name)),
        login=_endpoint(login, "login", token=False),
        refresh=_endpoint(sections["refresh"], "refresh", token=True),
        resource=_endpoint(sections["resource"], "resource", token=True),
        logout=_endpoint(logout_table, "logout", token=True) if logout_table is not None else None,
        access_token=Place.parse(_str(login, "access_token", "[login]"), ANSWER_KINDS, "[login].access_token"),
        refresh_token=refresh_place,
        jwks=jwks,
        expires_in=_places(login, "expires_in", "[login]"),
        refresh_expires_in=_places(login, "refresh_expires_in", "[login]"),
        cookie_login_headers=_strings(login, "cookie_headers", "[login]"),
        refresh_cookie=str(cookie) if cookie is not None else None,
    )


def load_profile(name_or_path: str) -> Profile:
    """A built-in profile by name, or a TOML file by path."""
    import tomllib

    if name_or_path in BUILTIN:
        return BUILTIN[name_or_path]
    path = Path(name_or_path)
    if not path.suffix == ".toml" and not path.exists():
        raise ProfileError(f"unknown profile {name_or_path!r}: use {', '.join(BUILTIN)} or a .toml file")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProfileError(f"cannot read profile {str(path)!r}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: not valid TOML: {exc}") from None
    return parse_profile(data, default_name=path.stem)
