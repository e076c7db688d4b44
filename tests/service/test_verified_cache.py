"""The service remembers access tokens it verified (``KeySet.verified``):
a repeated token skips the signature check, never the denylist, the DPoP
proof, expiry or a key revoked since — here or by another replica."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from keyturn.clock import FrozenClock
from keyturn.config import Settings
from keyturn.core.tokens import peek_kid
from keyturn.errors import InvalidDpopProof, SigningKeyRevoked, TokenExpired, TokenInvalid, TokenRevoked
from keyturn.service.access import TokenPair
from keyturn.service.guards import DpopRequest
from keyturn.service.masterkey import new_master_key
from keyturn.service.wiring import Runtime, build_runtime
from tests.conftest import FAST_ARGON2
from tests.dpop_client import DpopKey
from tests.service.conftest import login, new_user

ME = "http://keyturn.test/auth/me"


async def signed_in(rt: Runtime) -> TokenPair:
    await new_user(rt)
    pair: TokenPair = await login(rt)
    await rt.service.check_access(pair.access_token)  # now remembered
    return pair


async def test_a_repeated_token_is_a_hit(rt: Runtime) -> None:
    pair = await signed_in(rt)
    claims = await rt.service.check_access(pair.access_token)
    assert claims.sid == pair.session_id
    assert rt.keys.verified.hits == 1


async def test_a_remembered_token_of_a_logged_out_session_is_refused(rt: Runtime) -> None:
    pair = await signed_in(rt)
    await rt.service.logout(await rt.service.check_access(pair.access_token))
    hits = rt.keys.verified.hits
    with pytest.raises(TokenRevoked):
        await rt.service.check_access(pair.access_token)
    assert rt.keys.verified.hits == hits + 1  # refused on a hit: the denylist runs there


async def test_a_remembered_token_of_a_revoked_key_is_refused(rt: Runtime, clock: FrozenClock) -> None:
    pair = await signed_in(rt)
    kid = peek_kid(pair.access_token)
    assert kid is not None
    await rt.keys.revoke(kid, clock.now())  # `keyturn keys revoke KID`
    assert len(rt.keys.verified) == 0  # purged
    with pytest.raises(SigningKeyRevoked):
        await rt.service.verify_access(pair.access_token)


async def test_a_hit_rechecks_the_key_before_any_purge(rt: Runtime, clock: FrozenClock) -> None:
    pair = await signed_in(rt)
    kid = peek_kid(pair.access_token)
    assert kid is not None
    # As if the purge were lost: the revoked key alone must end the token.
    forget, rt.keys.verified.forget_keys = rt.keys.verified.forget_keys, lambda kids: 0  # type: ignore[method-assign]
    try:
        await rt.keys.revoke(kid, clock.now())
    finally:
        rt.keys.verified.forget_keys = forget  # type: ignore[method-assign]
    assert len(rt.keys.verified) == 1
    with pytest.raises(SigningKeyRevoked):
        await rt.service.verify_access(pair.access_token)


async def test_a_remembered_token_expires(rt: Runtime, clock: FrozenClock) -> None:
    pair = await signed_in(rt)
    clock.set(pair.access_expires_at + rt.settings.clock_leeway - 1)
    assert (await rt.service.verify_access(pair.access_token)).sid == pair.session_id
    clock.advance(1)
    with pytest.raises(TokenExpired):
        await rt.service.verify_access(pair.access_token)


async def test_a_tampered_signature_is_never_a_hit(rt: Runtime) -> None:
    pair = await signed_in(rt)
    token = pair.access_token
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BA")
    with pytest.raises(TokenInvalid):
        await rt.service.verify_access(tampered)


async def test_a_failure_is_not_remembered(rt: Runtime) -> None:
    pair = await signed_in(rt)
    bad = pair.access_token[:-4] + "AAAA"
    for _ in range(2):
        with pytest.raises(TokenInvalid):
            await rt.service.verify_access(bad)
    assert len(rt.keys.verified) == 1


@pytest.mark.parametrize("flaw", ["bearer", "no_proof", "replay", "other_key"])
async def test_a_remembered_bound_token_still_needs_a_fresh_proof(rt: Runtime, clock: FrozenClock, flaw: str) -> None:
    await new_user(rt)
    key = DpopKey()
    proof = key.proof("POST", "http://keyturn.test/auth/login", iat=clock.now())
    pair = await rt.service.login(
        "alice", "correct horse battery staple", ip="203.0.113.7", user_agent="t",
        dpop=DpopRequest(proof, "POST", "http://keyturn.test/auth/login"),
    )
    token = pair.access_token
    good = key.proof("GET", ME, iat=clock.now(), access_token=token)
    await rt.service.check_access(token, scheme="dpop", dpop=DpopRequest(good, "GET", ME))
    request = {
        "bearer": ("bearer", None),
        "no_proof": ("dpop", DpopRequest(None, "GET", ME)),
        "replay": ("dpop", DpopRequest(good, "GET", ME)),
        "other_key": ("dpop", DpopRequest(DpopKey().proof("GET", ME, iat=clock.now(), access_token=token), "GET", ME)),
    }[flaw]
    with pytest.raises(InvalidDpopProof):
        await rt.service.check_access(token, scheme=request[0], dpop=request[1])
    assert rt.keys.verified.hits == 1


# --- another replica revokes the key -------------------------------------------


@pytest.fixture
async def replicas(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[tuple[Runtime, Runtime]]:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/kt.db", master_key=new_master_key(), **FAST_ARGON2)
    a = build_runtime(settings, clock=clock)
    await a.start()
    b = build_runtime(settings, clock=clock)
    await b.start()
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


async def test_a_key_revoked_by_another_replica_ends_remembered_tokens_on_reload(
    replicas: tuple[Runtime, Runtime], clock: FrozenClock
) -> None:
    a, b = replicas
    pair = await signed_in(a)
    kid = peek_kid(pair.access_token)
    assert kid is not None
    await b.keys.revoke(kid, clock.now())
    await a.keys.reload(clock.now())  # a's periodic key check
    assert len(a.keys.verified) == 0
    with pytest.raises(SigningKeyRevoked):
        await a.service.check_access(pair.access_token)
