"""The Verifier remembers tokens it verified: a repeated token is a lookup,
yet nothing a hit could skip is skipped — a session or ``jti`` revoked on
the feed, a key revoked or replaced since, expiry, a silent feed — and a
changed byte of the token is another token. The cache is bounded and never
remembers a failure."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from jwt.algorithms import get_default_algorithms

from keyturn.clock import FrozenClock
from keyturn.core.tokens import AccessClaims, SigningKey
from keyturn.errors import (
    InvalidDpopProof, KeyturnError, SigningKeyRevoked, TokenExpired, TokenInvalid, TokenRevoked,
)
from keyturn.resource.feed import RevocationBatch, RevocationFeedUnavailable
from keyturn.resource.verifier import Verifier

ALGS = get_default_algorithms()
LEEWAY = 5.0


class Feed:
    """A revocation source that answers everything it holds on every poll,
    so a poll by the background thread and one by the test agree."""

    def __init__(self) -> None:
        self.sids: list[tuple[str, float]] = []
        self.jtis: list[tuple[str, float]] = []
        self.kids: list[tuple[str, float]] = []
        self.fail = False

    def poll(self, cursor: str | None, *, wait: float) -> RevocationBatch:
        if self.fail:
            raise ValueError("feed down")
        return RevocationBatch("c", list(self.sids), list(self.jtis), list(self.kids))

    def close(self) -> None:
        return None


class Issuer:
    """Signs access tokens with a key of its own, published as a JWKS."""

    def __init__(self, clock: FrozenClock, kid: str = "k1") -> None:
        self.clock = clock
        private = ed25519.Ed25519PrivateKey.generate()
        self.key = SigningKey.create(kid, "EdDSA", private, private.public_key())

    def jwks(self) -> dict[str, Any]:
        jwk = ALGS["EdDSA"].to_jwk(self.key.public, as_dict=True)
        return {"keys": [{**jwk, "kid": self.key.kid, "alg": "EdDSA", "use": "sig"}]}

    def token(self, ttl: int = 60, **over: Any) -> str:
        now = int(self.clock.now())
        fields: dict[str, Any] = {"iss": "keyturn", "aud": "keyturn", "sub": "u1", "sid": "s1", "jti": "j1",
                                  "iat": now, "exp": now + ttl, **over}
        return self.key.sign(AccessClaims(**fields))


@pytest.fixture
def issuer(clock: FrozenClock) -> Issuer:
    return Issuer(clock)


@pytest.fixture
def feed() -> Feed:
    return Feed()


@pytest.fixture
def verifier(issuer: Issuer, feed: Feed, clock: FrozenClock) -> Iterator[Verifier]:
    v = Verifier(None, issuer="keyturn", audience="keyturn", clock=clock, revocations=feed, leeway=LEEWAY)
    v.load_jwks(issuer.jwks())
    with v:
        yield v


def code(fn: Any) -> str:
    try:
        fn()
    except KeyturnError as exc:
        return exc.code
    return "ok"


def test_a_repeated_token_is_answered_from_the_cache(verifier: Verifier, issuer: Issuer) -> None:
    token = issuer.token()
    first = verifier.verify(token)
    assert verifier.verify(token) == first
    assert (verifier.verified.hits, len(verifier.verified)) == (1, 1)


@pytest.mark.parametrize("what", ["session", "jti"])
def test_a_cached_token_revoked_on_the_feed_is_refused(
    verifier: Verifier, issuer: Issuer, feed: Feed, clock: FrozenClock, what: str
) -> None:
    token = issuer.token(sid="s-gone", jti="j-gone")
    other = issuer.token(sid="s-kept", jti="j-kept")
    verifier.verify(token)
    verifier.verify(other)
    (feed.sids if what == "session" else feed.jtis).append(
        ("s-gone" if what == "session" else "j-gone", clock.now() + 60))
    verifier.poll_revocations()
    with pytest.raises(TokenRevoked):
        verifier.verify(token)
    with pytest.raises(TokenRevoked):
        verifier.verify(token)  # and every time after
    assert verifier.verify(other).sid == "s-kept"
    assert verifier.verified.hits >= 3  # the refusals came from hits: the check runs on them


def test_a_cached_token_of_a_key_revoked_on_the_feed_is_refused(
    verifier: Verifier, issuer: Issuer, feed: Feed, clock: FrozenClock
) -> None:
    token = issuer.token()
    verifier.verify(token)
    feed.kids.append((issuer.key.kid, clock.now() + 60))
    verifier.poll_revocations()
    with pytest.raises(SigningKeyRevoked):
        verifier.verify(token)
    assert len(verifier.verified) == 0  # purged, not just skipped


def test_a_hit_rechecks_the_key_even_before_the_purge(verifier: Verifier, issuer: Issuer) -> None:
    """The feed's key revocation lands in two steps; a hit in between must
    already see it."""
    token = issuer.token()
    verifier.verify(token)
    verifier._revoked_keys = frozenset({issuer.key.kid})  # as the poller does first
    with pytest.raises(SigningKeyRevoked):
        verifier.verify(token)


def test_a_cached_token_expires_with_the_leeway(verifier: Verifier, issuer: Issuer, clock: FrozenClock) -> None:
    token = issuer.token(ttl=60)
    verifier.verify(token)
    clock.advance(60 + LEEWAY - 1)
    assert verifier.verify(token).sub == "u1"  # inside the leeway, as the full check
    clock.advance(1)
    with pytest.raises(TokenExpired):
        verifier.verify(token)


def test_a_cached_token_is_not_accepted_before_its_iat(verifier: Verifier, issuer: Issuer, clock: FrozenClock) -> None:
    token = issuer.token()
    verifier.verify(token)
    clock.advance(-(LEEWAY + 1))  # the clock stepped back
    with pytest.raises(TokenInvalid):
        verifier.verify(token)


@pytest.mark.parametrize("part", ["signature", "payload", "header"])
def test_a_tampered_token_never_hits(verifier: Verifier, issuer: Issuer, part: str) -> None:
    token = issuer.token()
    verifier.verify(token)
    head, body, sig = token.split(".")
    flip = {"A": "B"}.get
    tampered = {
        "signature": f"{head}.{body}.{sig[:-2]}{'AA' if sig[-2:] != 'AA' else 'BA'}",
        "payload": f"{head}.{issuer.token(sub='mallory').split('.')[1]}.{sig}",
        "header": f"{head[:-1]}{flip(head[-1], 'A')}.{body}.{sig}",
    }[part]
    assert tampered != token
    assert code(lambda: verifier.verify(tampered)) == "token_invalid"


def test_a_key_replaced_under_the_same_kid_ends_its_cached_tokens(
    verifier: Verifier, issuer: Issuer, clock: FrozenClock
) -> None:
    token = issuer.token()
    verifier.verify(token)
    verifier.load_jwks(Issuer(clock, kid=issuer.key.kid).jwks())  # same kid, another key
    assert code(lambda: verifier.verify(token)) == "token_invalid"


def test_a_key_that_left_the_jwks_ends_its_cached_tokens(verifier: Verifier, issuer: Issuer, clock: FrozenClock) -> None:
    token = issuer.token()
    verifier.verify(token)
    verifier.load_jwks(Issuer(clock, kid="k2").jwks())
    assert code(lambda: verifier.verify(token)) == "token_invalid"
    assert len(verifier.verified) == 0


def test_refetching_an_unchanged_jwks_keeps_the_cache(verifier: Verifier, issuer: Issuer) -> None:
    token = issuer.token()
    verifier.verify(token)
    verifier.load_jwks(issuer.jwks())  # the periodic refetch
    verifier.verify(token)
    assert verifier.verified.hits == 1


def test_a_silent_feed_fails_closed_on_a_hit(verifier: Verifier, issuer: Issuer, feed: Feed) -> None:
    token = issuer.token()
    verifier.verify(token)
    verifier.max_feed_staleness = 0.0  # the feed last answered longer ago than allowed
    with pytest.raises(RevocationFeedUnavailable):
        verifier.verify(token)


def test_a_cached_bound_token_still_needs_its_proof_as_bearer(verifier: Verifier, issuer: Issuer) -> None:
    token = issuer.token(cnf_jkt="some-thumbprint")
    with pytest.raises(InvalidDpopProof):
        verifier.verify(token)
    with pytest.raises(InvalidDpopProof):
        verifier.verify(token)  # remembered (its signature was good), still refused
    with pytest.raises(InvalidDpopProof):
        verifier.verify_request("GET", "http://rs.test/", {"authorization": f"Bearer {token}"})
    assert verifier.verified.hits == 2


@pytest.mark.parametrize("fault", ["expired", "wrong_aud", "bad_signature", "unknown_kid"])
def test_a_failure_is_never_remembered(
    verifier: Verifier, issuer: Issuer, clock: FrozenClock, fault: str
) -> None:
    bad = {
        "expired": lambda: issuer.token(ttl=-60),
        "wrong_aud": lambda: issuer.token(aud="other"),
        "bad_signature": lambda: issuer.token()[:-4] + "AAAA",
        "unknown_kid": lambda: Issuer(clock, kid="nope").token(),
    }[fault]()
    for _ in range(2):
        assert code(lambda: verifier.verify(bad)) != "ok"
    assert (len(verifier.verified), verifier.verified.hits) == (0, 0)


def test_the_cache_is_bounded(issuer: Issuer, clock: FrozenClock) -> None:
    verifier = Verifier(None, issuer="keyturn", audience="keyturn", clock=clock, max_verified=8, revocations=False)
    verifier.load_jwks(issuer.jwks())
    tokens = [issuer.token(jti=f"j{i}") for i in range(20)]
    for token in tokens:
        verifier.verify(token)
    assert len(verifier.verified) == 8
    verifier.verify(tokens[-1])
    assert verifier.verified.hits == 1
    verifier.verify(tokens[0])  # the oldest went first
    assert verifier.verified.hits == 1 and len(verifier.verified) == 8


def test_max_verified_zero_remembers_nothing(issuer: Issuer, clock: FrozenClock) -> None:
    verifier = Verifier(None, issuer="keyturn", audience="keyturn", clock=clock, max_verified=0, revocations=False)
    verifier.load_jwks(issuer.jwks())
    token = issuer.token()
    verifier.verify(token)
    verifier.verify(token)
    assert (len(verifier.verified), verifier.verified.hits) == (0, 0)


async def test_verify_async_uses_the_same_cache(verifier: Verifier, issuer: Issuer, feed: Feed,
                                                clock: FrozenClock) -> None:
    token = issuer.token()
    await verifier.verify_async(token)
    await verifier.verify_async(token)
    assert verifier.verified.hits == 1
    feed.sids.append(("s1", clock.now() + 60))
    verifier.poll_revocations()
    with pytest.raises(TokenRevoked):
        await verifier.verify_async(token)
