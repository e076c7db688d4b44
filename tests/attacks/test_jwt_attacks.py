"""Forged, tampered and malformed access tokens against /auth/me. Each one
must get 401 with the documented code, never a 5xx."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from jwt.algorithms import get_default_algorithms

from tests.attacks.conftest import assert_refused
from tests.attacks.forge import assemble, b64, part, signing_input, split
from tests.conftest import Api

ALGS = get_default_algorithms()


async def victim(api: Api) -> tuple[str, dict[str, Any], dict[str, Any], bytes]:
    tokens = await api.user_and_login()
    header, payload, sig = split(tokens["access_token"])
    return tokens["access_token"], header, payload, sig


def sign_ours(api: Api, header: Any, payload: Any) -> str:
    """Signed with the service's real active key: only the content is wrong."""
    key = api.runtime.keys.active
    sig = ALGS[key.alg].sign(signing_input(header, payload), key.private)
    return f"{part(header)}.{part(payload)}.{b64(sig)}"


async def me(api: Api, token: str) -> Any:
    return await api.get("/auth/me", token)


async def test_the_real_token_works(target: Api) -> None:
    token, *_ = await victim(target)
    assert (await me(target, token)).status_code == 200


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
async def test_alg_none(target: Api, alg: str) -> None:
    _, header, payload, _ = await victim(target)
    assert_refused(await me(target, assemble({**header, "alg": alg}, payload)), 401, "token_invalid")
    assert_refused(await me(target, assemble({**header, "alg": alg}, payload)[:-1] + "."), 401, "token_invalid")


def _public_material(api: Api, form: str) -> bytes:
    public = api.runtime.keys.active.public
    if form == "pem":
        return bytes(public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    if form == "jwk":
        return orjson.dumps(orjson.loads(api.runtime.keys.jwks_json)["keys"][0])
    return bytes(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


@pytest.mark.parametrize("form", ["pem", "jwk", "raw"])
async def test_hs256_signed_with_our_public_key(target: Api, form: str) -> None:
    _, header, payload, _ = await victim(target)
    forged_header = {**header, "alg": "HS256"}
    mac = hmac.new(_public_material(target, form), signing_input(forged_header, payload), hashlib.sha256).digest()
    assert_refused(await me(target, assemble(forged_header, payload, mac)), 401, "token_invalid")


@pytest.mark.parametrize(
    "change",
    [{"sub": "someone-else"}, {"sid": "A" * 22}, {"exp": 4_102_444_800}, {"aud": "other"}, {"scope": "admin"}],
)
async def test_tampered_claims_with_the_original_signature(target: Api, change: dict[str, Any]) -> None:
    token, header, payload, sig = await victim(target)
    forged = f"{token.split('.')[0]}.{part({**payload, **change})}.{b64(sig)}"
    assert_refused(await me(target, forged), 401, "token_invalid")


@pytest.mark.parametrize("kind", ["empty", "truncated", "all-zero", "one bit flipped"])
async def test_bad_signatures(target: Api, kind: str) -> None:
    token, _, _, sig = await victim(target)
    head, body, _ = token.split(".")
    bad = {"empty": b"", "truncated": sig[:-8], "all-zero": bytes(len(sig)),
           "one bit flipped": bytes([sig[0] ^ 1]) + sig[1:]}[kind]
    assert_refused(await me(target, f"{head}.{body}.{b64(bad)}"), 401, "token_invalid")


async def test_psychic_signature_on_es256(make_target: Callable[..., Any]) -> None:
    # CVE-2022-21449: r = s = 0 must never verify.
    async with make_target(signing_alg="ES256") as api:
        token, _, _, sig = await victim(api)
        head, body, _ = token.split(".")
        assert_refused(await me(api, f"{head}.{body}.{b64(bytes(64))}"), 401, "token_invalid")
        assert (await me(api, token)).status_code == 200


@pytest.mark.parametrize("where", ["jwk", "x5c"])
async def test_embedded_keys_are_ignored(target: Api, where: str) -> None:
    _, header, payload, _ = await victim(target)
    attacker = ed25519.Ed25519PrivateKey.generate()
    if where == "jwk":
        embedded: Any = ALGS["EdDSA"].to_jwk(attacker.public_key(), as_dict=True)
    else:
        embedded = [b64(attacker.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))]
    for kid in (header["kid"], "attacker"):
        forged_header = {**header, where: embedded, "kid": kid}
        sig = attacker.sign(signing_input(forged_header, payload))
        assert_refused(await me(target, assemble(forged_header, payload, sig)), 401, "token_invalid")


@pytest.fixture
async def loopback_listener() -> AsyncIterator[tuple[str, list[int]]]:
    hits: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hits.append(1)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/jwks.json", hits
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("member", ["jku", "x5u"])
async def test_jku_and_x5u_are_never_fetched(target: Api, loopback_listener: tuple[str, list[int]], member: str) -> None:
    url, hits = loopback_listener
    _, header, payload, _ = await victim(target)
    attacker = ed25519.Ed25519PrivateKey.generate()
    forged_header = {**header, member: url, "kid": "attacker"}
    sig = attacker.sign(signing_input(forged_header, payload))
    assert_refused(await me(target, assemble(forged_header, payload, sig)), 401, "token_invalid")
    # And with our own kid (a valid-looking token pointing elsewhere).
    forged_header = {**header, member: url}
    assert_refused(await me(target, assemble(forged_header, payload, sig)), 401, "token_invalid")
    await asyncio.sleep(0.05)
    assert hits == []


@pytest.mark.parametrize(
    "kid",
    ["", "../../../../../../dev/null", "/etc/passwd", "' OR '1'='1' --", "x'; DROP TABLE kt_signing_keys; --",
     "$(touch /tmp/keyturn-pwned)", "`id`", "A" * 10_240, None, 12345, ["a"], {"a": 1}],
)
async def test_kid_injection(target: Api, kid: Any) -> None:
    _, header, payload, _ = await victim(target)
    forged = sign_ours(target, {**header, "kid": kid}, payload)
    assert_refused(await me(target, forged), 401, "token_invalid")


async def test_kid_injection_left_no_trace(target: Api) -> None:
    import os

    assert not os.path.exists("/tmp/keyturn-pwned")
    assert len(await target.runtime.stores.keys.list_keys()) == 1


async def test_unknown_kid(target: Api) -> None:
    _, header, payload, _ = await victim(target)
    assert_refused(await me(target, sign_ours(target, {**header, "kid": "not-a-key"}, payload)), 401, "token_invalid")


async def test_rotated_out_kid(make_target: Callable[..., Any]) -> None:
    async with make_target(access_token_ttl=60, key_publish_ahead=0) as api:
        _, header, payload, _ = await victim(api)
        old = api.runtime.keys.active
        await api.runtime.keys.rotate(api.clock.now())
        api.clock.advance(66)  # past every token the old key signed (+ leeway)
        await api.runtime.keys.reload(api.clock.now())
        now = int(api.clock.now())
        fresh = {**payload, "iat": now, "exp": now + 60}
        sig = ALGS[old.alg].sign(signing_input(header, fresh), old.private)
        assert_refused(await me(api, assemble(header, fresh, sig)), 401, "token_invalid")


async def test_alg_other_than_the_keys_own(make_target: Callable[..., Any]) -> None:
    # One algorithm per key: an ES256 token naming an EdDSA key is refused.
    async with make_target() as api:
        _, header, payload, _ = await victim(api)
        attacker = ec.generate_private_key(ec.SECP256R1())
        forged_header = {**header, "alg": "ES256"}
        sig = ALGS["ES256"].sign(signing_input(forged_header, payload), attacker)
        assert_refused(await me(api, assemble(forged_header, payload, sig)), 401, "token_invalid")


async def test_crit_with_an_unknown_member(target: Api) -> None:
    _, header, payload, _ = await victim(target)
    forged = sign_ours(target, {**header, "crit": ["x-keyturn-unknown"], "x-keyturn-unknown": 1}, payload)
    assert_refused(await me(target, forged), 401, "token_invalid")


@pytest.mark.parametrize("change", [{"iss": "https://evil.example"}, {"aud": "another-api"}, {"aud": ["another-api"]}])
async def test_wrong_issuer_or_audience(target: Api, change: dict[str, Any]) -> None:
    _, header, payload, _ = await victim(target)
    assert_refused(await me(target, sign_ours(target, header, {**payload, **change})), 401, "token_invalid")


@pytest.mark.parametrize(
    ("claim", "offset", "code"),
    [("exp", -6, "token_expired"), ("nbf", 6, "token_invalid"), ("iat", 6, "token_invalid")],
)
async def test_time_claims_beyond_the_leeway(target: Api, claim: str, offset: int, code: str) -> None:
    _, header, payload, _ = await victim(target)
    now = int(target.clock.now())
    forged = sign_ours(target, header, {**payload, claim: now + offset})
    assert_refused(await me(target, forged), 401, code)
    within = sign_ours(target, header, {**payload, claim: now + (offset // 6) * 4 + (1 if claim == "exp" else 0)})
    assert (await me(target, within)).status_code == 200


@pytest.mark.parametrize("typ", ["JWT", "jwt", "dpop+jwt", "", None, 1])
async def test_typ_other_than_at_jwt(target: Api, typ: Any) -> None:
    _, header, payload, _ = await victim(target)
    forged_header = {k: v for k, v in header.items() if k != "typ"} | ({} if typ is None else {"typ": typ})
    assert_refused(await me(target, sign_ours(target, forged_header, payload)), 401, "token_invalid")


async def test_refresh_token_as_bearer(target: Api) -> None:
    tokens = await target.user_and_login()
    assert_refused(await me(target, tokens["refresh_token"]), 401, "token_invalid")


async def test_access_token_as_refresh_token(target: Api) -> None:
    tokens = await target.user_and_login()
    assert_refused(await target.refresh(tokens["access_token"]), 401, "refresh_token_invalid")
    r = await target.client.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": tokens["access_token"]})
    assert_refused(r, 400, "refresh_token_invalid")


@pytest.mark.parametrize("kind", ["padding", "standard alphabet", "non-canonical tail", "whitespace"])
async def test_non_canonical_base64url(target: Api, kind: str) -> None:
    token, *_ = await victim(target)
    head, body, sig = token.split(".")
    if kind == "padding":
        forged = f"{head}{'=' * (-len(head) % 4) or '=='}.{body}.{sig}"
    elif kind == "standard alphabet":
        forged = token.replace("-", "+").replace("_", "/")
        if forged == token:
            forged = f"{head}.{body}.{sig[:-1]}+"
    elif kind == "non-canonical tail":
        # The last base64 character carries unused low bits: set them.
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        last = alphabet.index(sig[-1])
        forged = f"{head}.{body}.{sig[:-1]}{alphabet[last | 1] if last % 2 == 0 else alphabet[last & ~1]}"
    else:
        forged = f"{head}.{body[:10]} {body[10:]}.{sig}"
    assert_refused(await me(target, forged), 401, "token_invalid")


async def test_duplicate_json_members(target: Api) -> None:
    _, header, payload, _ = await victim(target)
    body = part(payload)
    raw = orjson.dumps(payload).decode()
    dup = raw[:-1] + ',"sub":"someone-else"}'
    key = target.runtime.keys.active
    head = part(header)
    for forged_body in (part(dup),):
        sig = ALGS[key.alg].sign(f"{head}.{forged_body}".encode(), key.private)
        assert_refused(await me(target, f"{head}.{forged_body}.{b64(sig)}"), 401, "token_invalid")
    dup_header = part(orjson.dumps(header).decode()[:-1] + ',"alg":"none"}')
    sig = ALGS[key.alg].sign(f"{dup_header}.{body}".encode(), key.private)
    assert_refused(await me(target, f"{dup_header}.{body}.{b64(sig)}"), 401, "token_invalid")


@pytest.mark.parametrize("size", [9_000, 100_000])
async def test_oversized_authorization_header(target: Api, size: int) -> None:
    assert_refused(await me(target, "e" * size), 401, "token_invalid")


@pytest.mark.parametrize("path", ["/auth/login", "/auth/register", "/auth/refresh", "/auth/password"])
async def test_oversized_bodies(target: Api, path: str) -> None:
    body = b'{"username":"' + b"a" * 2_000_000 + b'"}'
    r = await target.client.post(path, content=body, headers={"content-type": "application/json"})
    assert r.status_code in (401, 413), r.text  # /auth/password authenticates first
    if path != "/auth/password":
        assert_refused(r, 413, "payload_too_large")


async def test_token_in_the_query_string_is_ignored(target: Api) -> None:
    token, *_ = await victim(target)
    r = await target.client.get("/auth/me", params={"access_token": token})
    assert_refused(r, 401, "token_invalid")
