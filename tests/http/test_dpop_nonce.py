"""Server-provided DPoP nonces (RFC 9449 §8, §9) behind KEYTURN_DPOP_NONCE."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from keyturn.core.dpop_nonce import DpopNonces
from keyturn.core.throttle import window_start
from tests.conftest import Api
from tests.dpop_client import DpopKey

BASE = "http://keyturn.test"


async def login(api: Api, key: DpopKey, nonce: str | None = None) -> Any:
    extra = {"nonce": nonce} if nonce else {}
    return await api.login(headers={"dpop": key.proof("POST", f"{BASE}/auth/login", iat=api.clock.now(), **extra)})


async def test_token_endpoints_demand_a_nonce_with_400_and_no_challenge(make_api: Callable[..., Any]) -> None:
    """RFC 9449 §8: 400 ``use_dpop_nonce``, the nonce in ``DPoP-Nonce``."""
    async with make_api(dpop_nonce=True) as api:
        await api.register()
        key = DpopKey()
        r = await login(api, key)
        assert r.status_code == 400 and r.json()["error"] == "use_dpop_nonce"
        assert "www-authenticate" not in r.headers
        nonce = r.headers["dpop-nonce"]
        r = await login(api, key, nonce)
        assert r.status_code == 200, r.text
        tokens = r.json()
        # /oauth/token too, and an expired nonce is refused the same way.
        api.clock.advance(125)
        proof = key.proof("POST", f"{BASE}/oauth/token", iat=api.clock.now(), nonce=nonce)
        r = await api.client.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                                  headers={"dpop": proof})
        assert r.status_code == 400 and r.json()["error"] == "use_dpop_nonce" and r.headers["dpop-nonce"] != nonce


async def test_protected_routes_demand_a_nonce_with_401_and_a_dpop_challenge(make_api: Callable[..., Any]) -> None:
    """RFC 9449 §9."""
    async with make_api(dpop_nonce=True) as api:
        await api.register()
        key = DpopKey()
        nonce = (await login(api, key)).headers["dpop-nonce"]
        access = (await login(api, key, nonce)).json()["access_token"]
        proof = key.proof("GET", f"{BASE}/auth/me", iat=api.clock.now(), access_token=access)
        r = await api.client.get("/auth/me", headers={"authorization": f"DPoP {access}", "dpop": proof})
        assert r.status_code == 401 and r.headers["dpop-nonce"]
        assert r.headers["www-authenticate"].startswith("DPoP ") and 'error="use_dpop_nonce"' in r.headers["www-authenticate"]
        proof = key.proof("GET", f"{BASE}/auth/me", iat=api.clock.now(), access_token=access, nonce=r.headers["dpop-nonce"])
        assert (await api.client.get("/auth/me", headers={"authorization": f"DPoP {access}", "dpop": proof})).status_code == 200


async def test_nonce_demands_are_not_counted_as_guesses(make_api: Callable[..., Any]) -> None:
    async with make_api(dpop_nonce=True) as api:
        await api.register()
        key = DpopKey()
        nonce = (await login(api, key)).headers["dpop-nonce"]
        tokens = (await login(api, key, nonce)).json()
        api.clock.advance(125)
        for _ in range(3):
            proof = key.proof("POST", f"{BASE}/auth/refresh", iat=api.clock.now())
            assert (await api.refresh(tokens["refresh_token"], headers={"dpop": proof})).status_code == 400
        now = api.clock.now()
        counters = await api.runtime.stores.security.counters(
            [f"refresh:203.0.113.7:{int(window_start(now))}"], now=now)
        assert counters == {}


def test_every_replica_accepts_every_replicas_nonce() -> None:
    """Stateless: one key (derived from the master key), any process."""
    a, b, other = DpopNonces(b"k" * 32), DpopNonces(b"k" * 32), DpopNonces(b"x" * 32)
    nonce = a.current(1000.0)
    assert b.is_valid(nonce, 1000.0) and b.is_valid(nonce, 1050.0)  # its slot and the next
    assert not b.is_valid(nonce, 1140.0)  # two slots later
    assert not other.is_valid(nonce, 1000.0)
    assert not b.is_valid("garbage", 1000.0) and not b.is_valid(None, 1000.0)


async def test_nonces_are_off_by_default(api: Api) -> None:
    await api.register()
    r = await login(api, DpopKey())
    assert r.status_code == 200 and "dpop-nonce" not in r.headers
