"""``JwksCache`` alone, without a Verifier: the sync and async fetches share
one loader, unknown kids refetch at most once per interval, a key revoked on
the feed never comes back, and a failed fetch keeps the keys we had."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from keyturn.errors import SigningKeyRevoked
from keyturn.resource.jwks import JwksCache

URL = "https://issuer.example/.well-known/jwks.json"


def jwk(kid: str) -> dict[str, Any]:
    public = OKPAlgorithm.to_jwk(Ed25519PrivateKey.generate().public_key(), as_dict=True)
    return {**public, "kid": kid, "alg": "EdDSA", "use": "sig"}


class Served:
    """The JWKS endpoint: answers ``body`` (or ``status``), counting calls."""

    def __init__(self, *kids: str) -> None:
        self.body: dict[str, Any] = {"keys": [jwk(kid) for kid in kids]}
        self.status = 200
        self.calls = 0

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        assert str(request.url) == URL
        return httpx.Response(self.status, json=self.body)

    async def answer_async(self, request: httpx.Request) -> httpx.Response:
        return self.answer(request)


def cache(served: Served, forgotten: list[set[str]] | None = None, **kw: Any) -> JwksCache:
    def forget(kids: Collection[str]) -> None:
        if forgotten is not None:
            forgotten.append(set(kids))

    return JwksCache(URL, algorithms=("EdDSA",), transport=httpx.MockTransport(served.answer),
                     async_transport=httpx.MockTransport(served.answer_async), forget=forget, **kw)


def test_the_sync_and_the_async_fetch_load_the_same_keys() -> None:
    served = Served("k1", "k2")
    sync, async_ = cache(served), cache(served)
    assert sync.fetch() == 2
    assert asyncio.run(async_.fetch_async()) == 2
    assert sorted(sync.keys) == sorted(async_.keys) == ["k1", "k2"]
    assert {k: v.public for k, v in sync.keys.items()} == {k: v.public for k, v in async_.keys.items()}
    assert served.calls == 2


@pytest.mark.parametrize("status", [500, 404])
@pytest.mark.parametrize("way", ["sync", "async"])
def test_a_failed_fetch_keeps_the_keys_and_says_so(status: int, way: str, caplog: pytest.LogCaptureFixture) -> None:
    served = Served("k1")
    keys = cache(served)
    keys.fetch()
    served.status, served.body = status, {"keys": []}
    with caplog.at_level(logging.WARNING, logger="keyturn.verify"):
        fetched = keys.fetch() if way == "sync" else asyncio.run(keys.fetch_async())
    assert fetched == 0
    assert list(keys.keys) == ["k1"]
    assert any("could not fetch the JWKS" in r.getMessage() for r in caplog.records)
    with pytest.raises(httpx.HTTPStatusError):  # refresh: the caller asked, the caller is told
        keys.refresh() if way == "sync" else asyncio.run(keys.refresh_async())


@pytest.mark.parametrize("way", ["sync", "async"])
def test_an_answer_that_is_not_json_keeps_the_keys(way: str) -> None:
    served = Served("k1")
    keys = cache(served)
    keys.fetch()
    keys._transport = httpx.MockTransport(lambda r: httpx.Response(200, text="<html>"))
    keys._async_transport = httpx.MockTransport(lambda r: httpx.Response(200, text="<html>"))
    assert (keys.fetch() if way == "sync" else asyncio.run(keys.fetch_async())) == 0
    assert list(keys.keys) == ["k1"]


def test_an_unknown_kid_fetches_at_most_once_per_interval() -> None:
    served = Served("k1")
    keys = cache(served, min_refetch_interval=3600)
    assert keys.needs_fetch("garbage") is True  # the first unknown kid may fetch ...
    assert keys.needs_fetch("garbage-2") is False  # ... the next, within the interval, may not
    keys.fetch()
    assert keys.needs_fetch("k1") is False  # known
    assert keys.needs_fetch(None) is False  # no kid: nothing to fetch for
    assert cache(served, min_refetch_interval=0).needs_fetch("x") is True
    assert JwksCache(None, algorithms=("EdDSA",)).needs_fetch("x") is False  # no URL: never


def test_a_key_revoked_on_the_feed_is_dropped_and_never_loaded_again() -> None:
    served = Served("k1", "k2")
    forgotten: list[set[str]] = []
    keys = cache(served, forgotten)
    keys.fetch()
    keys.revoke({"k1"})
    assert forgotten[-1] == {"k1"}  # what k1 verified is no longer taken on trust
    assert list(keys.keys) == ["k2"] and keys.live("k1") is None
    with pytest.raises(SigningKeyRevoked):
        keys.needs_fetch("k1")  # refused before any fetch could bring it back
    keys.fetch()  # the JWKS still lists k1
    assert list(keys.keys) == ["k2"]


def test_an_unchanged_key_keeps_its_object_and_a_changed_one_is_forgotten() -> None:
    served = Served("k1", "k2")
    forgotten: list[set[str]] = []
    keys = cache(served, forgotten)
    keys.fetch()
    k1 = keys.keys["k1"]
    served.body = {"keys": [served.body["keys"][0], jwk("k3")]}  # k1 kept, k2 gone, k3 new
    keys.fetch()
    assert keys.keys["k1"] is k1
    assert sorted(keys.keys) == ["k1", "k3"]
    assert forgotten[-1] == {"k2"}


def test_hmac_keys_stay_whatever_the_jwks_says_and_none_is_refused() -> None:
    served = Served("k1")
    keys = JwksCache(URL, algorithms=("EdDSA", "HS256"), hmac_keys={"h1": b"s" * 32},
                     transport=httpx.MockTransport(served.answer))
    assert keys.fetch() == 2
    assert sorted(keys.keys) == ["h1", "k1"] and keys.keys["h1"].alg == "HS256"
    with pytest.raises(ValueError, match="'none'"):
        JwksCache(URL, algorithms=("EdDSA", "None"))
    with pytest.raises(ValueError, match="HS256 needs hmac_keys"):
        JwksCache(URL, algorithms=("HS256",))


def test_keep_fresh_refetches_only_keys_older_than_max_age() -> None:
    served = Served("k1")
    young = cache(served, max_age=3600)
    young.keep_fresh()
    assert served.calls == 0
    old = cache(served, max_age=0)
    old.keep_fresh()
    assert served.calls == 1 and list(old.keys) == ["k1"]
    assert old.needs_fetch("unknown") is False  # the scheduled fetch counts against the rate limit
