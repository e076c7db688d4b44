"""The Verifier rejects exactly what the service rejects, with the same codes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from jwt.algorithms import get_default_algorithms

from keyturn.clock import FrozenClock
from keyturn.core.refresh import b64encode
from keyturn.errors import KeyturnError, TokenRevoked
from keyturn.resource.feed import RevocationBatch, RevocationFeedUnavailable
from keyturn.resource.verifier import Verifier, keys_from_jwks
from keyturn.service.wiring import Runtime
from tests.conftest import Api

ALGS = get_default_algorithms()


def forge(rt: Runtime, header: dict[str, Any], claims: dict[str, Any], *, key: Any = None) -> str:
    signing_input = f"{b64encode(orjson.dumps(header))}.{b64encode(orjson.dumps(claims))}"
    alg = header.get("alg", "EdDSA")
    if alg == "none":
        return signing_input + "."
    sig = ALGS[alg].sign(signing_input.encode(), key if key is not None else rt.keys.active.private)
    return f"{signing_input}.{b64encode(sig)}"


def verifier_for(rt: Runtime, clock: FrozenClock, **kw: Any) -> Verifier:
    v = Verifier(None, issuer=rt.settings.issuer, audience=rt.settings.audience, clock=clock,
                 **{"revocations": False, **kw})
    v.load_jwks(orjson.loads(rt.keys.jwks_json))
    return v


def claims_of(rt: Runtime, clock: FrozenClock, **over: Any) -> dict[str, Any]:
    now = int(clock.now())
    base = {"iss": rt.settings.issuer, "aud": rt.settings.audience, "sub": "u1", "sid": "s1", "jti": "j1",
            "iat": now, "exp": now + 60}
    base.update(over)
    return base


def header_of(rt: Runtime, **over: Any) -> dict[str, Any]:
    return {"alg": rt.keys.active.alg, "kid": rt.keys.active.kid, "typ": "at+jwt", **over}


CASES: dict[str, Callable[[Runtime, FrozenClock], str]] = {
    "valid": lambda rt, c: forge(rt, header_of(rt), claims_of(rt, c)),
    "expired": lambda rt, c: forge(rt, header_of(rt), claims_of(rt, c, iat=int(c.now()) - 100, exp=int(c.now()) - 10)),
    "in_leeway": lambda rt, c: forge(rt, header_of(rt), claims_of(rt, c, exp=int(c.now()) - 2)),
    "typ_jwt": lambda rt, c: forge(rt, header_of(rt, typ="JWT"), claims_of(rt, c)),
    "alg_none": lambda rt, c: forge(rt, header_of(rt, alg="none"), claims_of(rt, c)),
    "alg_hs256_confusion": lambda rt, c: forge(
        rt, header_of(rt, alg="HS256"), claims_of(rt, c), key=rt.keys.jwks_json),
    "wrong_iss": lambda rt, c: forge(rt, header_of(rt), claims_of(rt, c, iss="evil")),
    "wrong_aud": lambda rt, c: forge(rt, header_of(rt), claims_of(rt, c, aud="other")),
    "future_iat": lambda rt, c: forge(rt, header_of(rt), claims_of(rt, c, iat=int(c.now()) + 600)),
    "no_sid": lambda rt, c: forge(rt, header_of(rt), {k: v for k, v in claims_of(rt, c).items() if k != "sid"}),
    "unknown_kid": lambda rt, c: forge(rt, header_of(rt, kid="nope"), claims_of(rt, c)),
    "crit": lambda rt, c: forge(rt, header_of(rt, crit=["x"]), claims_of(rt, c)),
    "bad_signature": lambda rt, c: forge(rt, header_of(rt), claims_of(rt, c))[:-4] + "AAAA",
    "garbage": lambda rt, c: "not.a.token",
}


def outcome(fn: Callable[[], Any]) -> str:
    try:
        fn()
    except KeyturnError as exc:
        return exc.code
    return "ok"


@pytest.mark.parametrize("case", sorted(CASES))
async def test_same_verdict_as_the_service(api: Api, case: str) -> None:
    rt, clock = api.runtime, api.clock
    token = CASES[case](rt, clock)
    try:
        await rt.service.verify_access(token)
        expected = "ok"
    except KeyturnError as exc:
        expected = exc.code
    assert outcome(lambda: verifier_for(rt, clock).verify(token)) == expected
    if case == "valid":
        assert expected == "ok"


async def test_claims_are_typed(api: Api) -> None:
    tokens = await api.user_and_login()
    claims = verifier_for(api.runtime, api.clock).verify(tokens["access_token"])
    assert claims.sid == tokens["session_id"]
    assert isinstance(claims.exp, int) and claims.exp - claims.iat == api.runtime.settings.access_token_ttl


def jwks_transport(rt: Runtime, calls: list[str]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(200, content=rt.keys.jwks_json)

    return httpx.MockTransport(handler)


async def test_garbage_kids_fetch_the_jwks_at_most_once_per_interval(api: Api) -> None:
    rt, clock = api.runtime, api.clock
    calls: list[str] = []
    v = Verifier("http://keyturn.test/.well-known/jwks.json", issuer="keyturn", audience="keyturn", clock=clock,
                 transport=jwks_transport(rt, calls), min_refetch_interval=3600, revocations=False)
    bad = [forge(rt, header_of(rt, kid=f"junk{i}"), claims_of(rt, clock)) for i in range(50)]
    assert {outcome(lambda t=t: v.verify(t)) for t in bad} == {"token_invalid"}
    assert calls == ["/.well-known/jwks.json"]
    assert outcome(lambda: v.verify(forge(rt, header_of(rt), claims_of(rt, clock)))) == "ok"


async def test_a_rotated_key_is_fetched_on_first_sight(api: Api) -> None:
    rt, clock = api.runtime, api.clock
    calls: list[str] = []
    v = Verifier("http://keyturn.test/.well-known/jwks.json", issuer="keyturn", audience="keyturn", clock=clock,
                 transport=jwks_transport(rt, calls), min_refetch_interval=0, revocations=False)
    v.refresh_keys()
    await rt.keys.rotate(clock.now())
    clock.advance(rt.settings.key_publish_ahead)  # the new key signs from then on
    tokens = await api.user_and_login()
    assert v.verify(tokens["access_token"]).sid == tokens["session_id"]
    assert len(calls) == 2


async def test_verify_async_fetches_without_blocking(api: Api) -> None:
    rt, clock = api.runtime, api.clock
    calls: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(200, content=rt.keys.jwks_json)

    v = Verifier("http://keyturn.test/.well-known/jwks.json", issuer="keyturn", audience="keyturn", clock=clock,
                 async_transport=httpx.MockTransport(handler), revocations=False)
    tokens = await api.user_and_login()
    assert (await v.verify_async(tokens["access_token"])).sid == tokens["session_id"]
    assert calls == ["/.well-known/jwks.json"]


class ListSource:
    def __init__(self) -> None:
        self.entries: list[tuple[str, float]] = []
        self.fail = False

    def poll(self, cursor: str | None, *, wait: float) -> RevocationBatch:
        if self.fail:
            raise httpx.ConnectError("down")
        out, self.entries = self.entries, []
        return RevocationBatch("c", out)

    def close(self) -> None:
        return None


async def test_a_revoked_session_is_token_revoked_until_its_entry_expires(api: Api) -> None:
    rt, clock = api.runtime, api.clock
    source = ListSource()
    v = verifier_for(rt, clock, revocations=source)
    token = forge(rt, header_of(rt), claims_of(rt, clock, sid="gone"))
    assert v.poll_revocations() == 0
    assert v.verify(token).sid == "gone"
    source.entries = [("gone", clock.now() + 30)]
    v.poll_revocations()
    with pytest.raises(TokenRevoked):
        v.verify(token)
    assert outcome(lambda: v.verify(forge(rt, header_of(rt), claims_of(rt, clock, sid="other")))) == "ok"
    clock.advance(31)
    v.poll_revocations()
    assert len(v.revoked) == 0


async def test_a_silent_feed_fails_closed(api: Api) -> None:
    rt, clock = api.runtime, api.clock
    source = ListSource()
    source.fail = True
    v = verifier_for(rt, clock, revocations=source, max_feed_staleness=30)
    with v:
        with pytest.raises(RevocationFeedUnavailable) as exc:
            v.verify(forge(rt, header_of(rt), claims_of(rt, clock)))
    assert exc.value.code == "store_unavailable" and exc.value.status == 503


def test_jwks_entries_without_our_algorithm_or_curve_are_ignored() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    ed = ALGS["EdDSA"].to_jwk(ed25519.Ed25519PrivateKey.generate().public_key(), as_dict=True)
    p384 = ALGS["ES384"].to_jwk(ec.generate_private_key(ec.SECP384R1()).public_key(), as_dict=True)
    jwks = {"keys": [
        {**ed, "kid": "good", "alg": "EdDSA"},
        {**ed, "kid": "no-alg"},
        {**ed, "kid": "enc", "alg": "EdDSA", "use": "enc"},
        {**p384, "kid": "wrong-curve", "alg": "ES256"},
        {"kid": "broken", "alg": "EdDSA", "kty": "OKP", "crv": "Ed25519", "x": "!!"},
        "junk",
    ]}
    assert sorted(keys_from_jwks(jwks, ("EdDSA", "ES256"))) == ["good"]


def test_hs256_needs_an_explicit_secret() -> None:
    with pytest.raises(ValueError, match="hmac_keys"):
        Verifier("http://x/jwks", issuer="i", audience="a", algorithms=("HS256",))
    with pytest.raises(ValueError):
        Verifier("http://x/jwks", issuer="i", audience="a", algorithms=("none",))


async def test_hs256_with_a_shared_secret(make_api: Callable[..., Any]) -> None:
    async with make_api(signing_alg="HS256") as api:
        tokens = await api.user_and_login()
        key = api.runtime.keys.active
        v = Verifier(None, issuer="keyturn", audience="keyturn", algorithms=("HS256",),
                     hmac_keys={key.kid: key.private}, clock=api.clock, revocations=False)
        assert v.verify(tokens["access_token"]).sid == tokens["session_id"]


def test_settings_kept_on_the_verifier_read_and_write_through_to_its_helpers() -> None:
    """The split moved these to JwksCache and FeedPoller; callers that read
    or set them on the Verifier still reach the real thing."""
    v = Verifier("https://i.example/jwks", issuer="i", audience="a", revocations=False, min_refetch_interval=7,
                 jwks_max_age=8, poll_interval=9, poll_wait=10, max_feed_staleness=11)
    assert (v.jwks_url, v.min_refetch_interval, v.jwks_max_age) == ("https://i.example/jwks", 7, 8)
    assert (v.poll_interval, v.poll_wait, v.max_feed_staleness) == (9, 10, 11)
    v.max_feed_staleness = None
    assert v.poller.max_staleness is None
    v.min_refetch_interval = 0
    assert v.jwks.min_refetch_interval == 0
    assert v.revoked is v.poller.revoked and v._source is None
    assert Verifier.jwks_url is not None  # on the class, the descriptor: help() and autospec work
