"""Signing-key rollover across replicas and revoking a compromised key.

Two runtimes on one database and one frozen clock stand for two replicas;
``reload`` is the replica's periodic key check (a real server runs it
every ``KEY_CHECK_INTERVAL`` seconds). A Verifier with a warm JWKS cache
that never refetches stands for the strictest resource server.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from keyturn.clock import FrozenClock
from keyturn.config import Settings
from keyturn.core.tokens import peek_kid
from keyturn.errors import KeyturnError
from keyturn.resource.feed import RevocationBatch
from keyturn.resource.verifier import Verifier
from keyturn.service.feed import Cursor
from keyturn.service.keys import FEED_PREFIX
from keyturn.service.masterkey import new_master_key
from keyturn.service.wiring import Runtime, build_runtime
from tests.attacks.conftest import attack_settings, reset_backends
from tests.conftest import FAST_ARGON2, PASSWORD

TTL = 60
AHEAD = 30


@pytest.fixture
async def replicas(tmp_path: Path) -> AsyncIterator[tuple[Runtime, Runtime, FrozenClock]]:
    raw = attack_settings(
        database_url=attack_settings().get("database_url", f"sqlite:///{tmp_path}/kt.db"),
        master_key=new_master_key(), access_token_ttl=TTL, key_publish_ahead=AHEAD, **FAST_ARGON2,
    )
    await reset_backends(raw)
    clock = FrozenClock()
    a = build_runtime(Settings(**raw), clock=clock)
    await a.start()
    b = build_runtime(Settings(**raw), clock=clock)
    await b.start()
    await a.service.register("alice", PASSWORD)
    try:
        yield a, b, clock
    finally:
        await a.close()
        await b.close()


class StaticFeed:
    """A revocation source that hands over what a test puts in it."""

    def __init__(self) -> None:
        self.batches: list[RevocationBatch] = []

    def poll(self, cursor: str | None, *, wait: float) -> RevocationBatch:
        return self.batches.pop(0) if self.batches else RevocationBatch(cursor)

    def close(self) -> None:
        pass


def warm_verifier(rt: Runtime, clock: FrozenClock, source: Any = None) -> Verifier:
    """A resource server's Verifier that fetched the JWKS now and will not refetch."""
    v = Verifier(None, issuer=rt.settings.issuer, audience=rt.settings.audience, clock=clock,
                 revocations=source if source is not None else False)
    v.load_jwks(orjson.loads(rt.keys.jwks_json))
    return v


async def login(rt: Runtime) -> str:
    pair = await rt.service.login("alice", PASSWORD, ip="198.51.100.1", user_agent="t")
    return pair.access_token


async def tick(*replicas: Runtime) -> None:
    for rt in replicas:
        await rt.keys.reload(rt.clock.now())


async def code_of(rt: Runtime, token: str) -> str:
    try:
        await rt.service.verify_access(token)
    except KeyturnError as exc:
        return exc.code
    return "ok"


async def test_rotation_publishes_first_and_every_token_verifies_until_exp(
    replicas: tuple[Runtime, Runtime, FrozenClock],
) -> None:
    a, b, clock = replicas
    old_kid = peek_kid(await login(a))
    new = await a.keys.rotate(clock.now())  # `keyturn keys rotate` on either replica
    await tick(a, b)
    # Published, not yet signing: both replicas still sign with the old key,
    # and a verifier that fetches the JWKS now already knows the new one.
    assert peek_kid(await login(a)) == old_kid
    assert peek_kid(await login(b)) == old_kid
    assert new.kid in {k["kid"] for k in orjson.loads(b.keys.jwks_json)["keys"]}
    verifier = warm_verifier(b, clock)
    tokens: list[str] = []
    for _ in range(AHEAD + 3):  # a token from each replica every second across the switch
        tokens += [await login(a), await login(b)]
        clock.advance(1)
        await tick(a, b)
    assert {peek_kid(t) for t in tokens[-2:]} == {new.kid}, "both replicas switch at the activation time"
    # Every token verifies at both replicas and at the verifier until its exp,
    # checked at its last second of life (the retired key is still published).
    for token in tokens:
        exp = orjson.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))["exp"]
        clock.set(max(clock.now(), exp - 1))
        await tick(a, b)
        verifier.load_jwks(orjson.loads(a.keys.jwks_json))
        assert await code_of(a, token) == "ok"
        assert await code_of(b, token) == "ok"
        assert verifier.verify(token).sub
    # Long after the last old-key token expired, the old key leaves the JWKS.
    clock.advance(TTL + 60)
    await tick(a, b)
    assert old_kid not in {k["kid"] for k in orjson.loads(a.keys.jwks_json)["keys"]}


async def test_revoked_key_is_refused_everywhere_with_a_refresh_hint(
    replicas: tuple[Runtime, Runtime, FrozenClock],
) -> None:
    a, b, clock = replicas
    feed = StaticFeed()
    verifier = warm_verifier(a, clock, feed)
    token = await login(a)
    kid = peek_kid(token)
    assert kid is not None and verifier.verify(token).sub
    await a.keys.revoke(kid, clock.now(), feed=a.revocations)  # `keyturn keys revoke KID`
    # Within one key check of each replica: gone from the JWKS, refused as
    # revoked (refresh helps), and the replicas sign with a fresh key at once.
    await tick(a, b)
    for rt in (a, b):
        assert kid not in {k["kid"] for k in orjson.loads(rt.keys.jwks_json)["keys"]}
        assert await code_of(rt, token) == "signing_key_revoked"
        fresh = await login(rt)
        assert peek_kid(fresh) != kid
        assert await code_of(a, fresh) == "ok" and await code_of(b, fresh) == "ok"
    # A Verifier learns it from the revocation feed, in one round (the wire
    # form of the entry is tested against a live server in tests/stores/).
    assert a.revocations is not None
    cursor, rows = await a.revocations.since(Cursor(), now=clock.now())
    feed.batches.append(RevocationBatch(str(cursor), keys=[(r.sid.removeprefix(FEED_PREFIX), r.exp) for r in rows]))
    verifier.poll_revocations()
    with pytest.raises(KeyturnError) as caught:
        verifier.verify(token)
    assert caught.value.code == "signing_key_revoked"
