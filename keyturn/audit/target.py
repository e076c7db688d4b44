"""The target as the checks see it: log in, refresh, call the protected
resource, log out — each described by the profile, each a single bounded
request through the probe. Every session the audit opens is remembered and
ended at the close (its logout is reserved from the budget when it opens)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from keyturn.audit.probe import Probe
from keyturn.audit.profile import Endpoint, Place, Profile


class LoginFailed(Exception):
    """The test account could not log in; the check cannot run."""


@dataclass
class Session:
    """One login the audit made, with the newest tokens it knows of."""

    access: str | None
    refresh: str | None
    login_response: httpx.Response
    ended: bool = False


@dataclass(frozen=True)
class Answer:
    """A refresh answer: the status, what it said, the tokens it carried."""

    status: int
    said: str
    access: str | None
    refresh: str | None
    response: httpx.Response

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def said(response: httpx.Response) -> str:
    """``401 refresh_token_reused``: the status and the stable code, if any."""
    text = str(response.status_code)
    try:
        body = response.json()
    except ValueError:
        return text
    if isinstance(body, dict):
        for key in ("code", "error"):
            value = body.get(key)
            if isinstance(value, str) and len(value) <= 60:
                return f"{text} {value}"
    return text


def _walk(body: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(body, dict):
            return None
        body = body.get(part)
    return body


def read_place(response: httpx.Response, place: Place) -> str | None:
    """The value at ``place`` in an answer, or None."""
    if place.kind == "cookie":
        value = response.cookies.get(place.name)
        return str(value) if value else None
    if place.kind == "header":
        raw = response.headers.get(place.name)
        if raw is None:
            return None
        scheme, _, rest = raw.partition(" ")
        return rest.strip() if scheme.lower() == "bearer" and rest else raw.strip() or None
    try:
        value = _walk(response.json(), place.name)
    except ValueError:
        return None
    return value if isinstance(value, str) and value else None


def read_number(response: httpx.Response, place: Place) -> float | None:
    if place.kind != "json":
        raw = read_place(response, place)
        try:
            return float(raw) if raw is not None else None
        except ValueError:
            return None
    try:
        value = _walk(response.json(), place.name)
    except ValueError:
        return None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


@dataclass
class Request:
    """A request under construction; ``place_token`` puts a token where a place says."""

    method: str
    path: str
    encoding: str = "json"
    headers: dict[str, str] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    raw_body: bytes | None = None

    def place_token(self, place: Place, token: str) -> None:
        if place.kind == "bearer":
            self.headers["Authorization"] = f"Bearer {token}"
        elif place.kind == "header":
            self.headers[place.name] = token
        elif place.kind == "cookie":
            self.headers["Cookie"] = f"{place.name}={token}"
        elif place.kind == "query":
            self.params[place.name] = token
        else:  # json / form field
            self.fields[place.name] = token

    def _body(self) -> dict[str, Any]:
        if self.raw_body is not None:
            return {"content": self.raw_body}
        if self.method in ("GET", "DELETE") and not self.fields:
            return {}
        if self.encoding == "form":
            return {"data": {k: str(v) for k, v in self.fields.items()}}
        return {"json": self.fields}

    async def send(self, probe: Probe, *, reserved: bool = False) -> httpx.Response:
        return await probe.send(self.method, self.path, headers=self.headers, params=self.params or None,
                                reserved=reserved, **self._body())

    def build(self, probe: Probe) -> httpx.Request:
        return probe.build(self.method, self.path, headers=self.headers, params=self.params or None, **self._body())


def request_for(endpoint: Endpoint, token: str | None = None) -> Request:
    req = Request(endpoint.method, endpoint.path, endpoint.encoding, dict(endpoint.headers), dict(endpoint.fields))
    if token is not None and endpoint.token is not None:
        req.place_token(endpoint.token, token)
    return req


class Target:
    """The deployment under audit, spoken to only through the profile."""

    def __init__(self, profile: Profile, probe: Probe, username: str, password: str) -> None:
        self.profile = profile
        self.probe = probe
        self.username = username
        self.password = password
        self.sessions: list[Session] = []
        self.logins = 0
        probe.redact.add_password(password)

    def login_request(self, password: str | None = None, headers: dict[str, str] | None = None) -> Request:
        """The login call with the credentials substituted into its fields."""
        values = {"username": self.username, "password": self.password if password is None else password}
        req = request_for(self.profile.login)
        req.fields = {k: _substitute(v, values) for k, v in req.fields.items()}
        req.headers.update(headers or {})
        return req

    def remember(self, *tokens: str | None) -> None:
        for token in tokens:
            if token:
                self.probe.redact.add_token(token)

    async def login(self, headers: dict[str, str] | None = None) -> Session:
        """Log the test account in; raises :class:`LoginFailed` on anything but success."""
        has_logout = self.profile.logout is not None
        self.probe.require(1 + (1 if has_logout else 0))
        response = await self.login_request(headers=headers).send(self.probe)
        access = read_place(response, self.profile.access_token)
        refresh = read_place(response, self.profile.refresh_token)
        if headers and self.profile.refresh_cookie:
            refresh = refresh or response.cookies.get(self.profile.refresh_cookie)
        self.remember(access, refresh)
        if not 200 <= response.status_code < 300 or not access:
            raise LoginFailed(f"login answered {said(response)}" + ("" if access else f", no access token at {self.profile.access_token}"))
        session = Session(access, refresh, response)
        self.logins += 1
        if has_logout and self.probe.reserve(1):
            self.sessions.append(session)
        return session

    async def refresh_together(self, token: str, n: int) -> list[Answer]:
        """``n`` refreshes of one token arriving at the same instant."""
        from keyturn.audit.burst import burst

        responses = await burst(self.probe, request_for(self.profile.refresh, token).build(self.probe), n)
        return [self.answer(response, None) for response in responses]

    async def refresh(self, token: str, session: Session | None = None) -> Answer:
        response = await request_for(self.profile.refresh, token).send(self.probe)
        return self.answer(response, session)

    def answer(self, response: httpx.Response, session: Session | None) -> Answer:
        access = read_place(response, self.profile.access_token)
        refresh = read_place(response, self.profile.refresh_token)
        self.remember(access, refresh)
        if session is not None and 200 <= response.status_code < 300:
            session.access = access or session.access
            session.refresh = refresh or session.refresh
        return Answer(response.status_code, said(response), access, refresh, response)

    async def resource(self, access: str, place: Place | None = None) -> httpx.Response:
        """Call the protected resource presenting ``access`` (at ``place``, default the profile's)."""
        req = request_for(self.profile.resource)
        req.place_token(place or self.profile.resource.token or Place("bearer"), access)
        return await req.send(self.probe)

    async def logout(self, session: Session) -> httpx.Response | None:
        endpoint = self.profile.logout
        if endpoint is None:
            return None
        token = session.access if endpoint.sends == "access" else session.refresh
        # A session the audit tracks had its logout set aside when it opened.
        tracked = any(s is session for s in self.sessions) and not session.ended
        session.ended = True
        return await request_for(endpoint, token).send(self.probe, reserved=tracked)

    async def end_sessions(self) -> int:
        """Log out every session the audit opened and has not ended; returns how many."""
        ended = 0
        for session in self.sessions:
            if session.ended:
                continue
            try:
                await self.logout(session)
                ended += 1
            except Exception:  # best effort: one failed logout must not stop the others
                session.ended = True
        return ended


def _substitute(template: str, values: dict[str, str]) -> str:
    # Plain replacement, not str.format: a body may contain other braces.
    for key, value in values.items():
        template = template.replace("{" + key + "}", value)
    return template

