"""Signing keys at rest and across rotation."""

from __future__ import annotations

import asyncio

import pytest

from keyturn.errors import ConfigError, StoreUnavailable
from keyturn.service.keys import KEY_CHECK_INTERVAL, KeyCipher, KeySet, generate, load
from keyturn.stores.memory import MemoryStore

NOW = 1_800_000_000.0


@pytest.mark.parametrize("alg", ["EdDSA", "ES256", "HS256"])
def test_private_half_is_encrypted(alg: str) -> None:
    cipher = KeyCipher(b"m" * 32)
    stored, key = generate(alg, cipher, NOW)
    assert b"PRIVATE KEY" not in stored.private_enc
    assert load(stored, cipher).kid == key.kid
    with pytest.raises(ConfigError, match="KEYTURN_MASTER_KEY"):
        load(stored, KeyCipher(b"n" * 32))


async def test_rotation_keeps_old_key_until_its_tokens_expire() -> None:
    repo = MemoryStore()
    keys = KeySet(repo, KeyCipher(b"m" * 32), "EdDSA", publish_for=1805, publish_ahead=30)
    await keys.ensure_active(NOW)
    old = keys.signer(NOW).kid
    new = (await keys.rotate(NOW + 10)).kid
    # Published at once, signing only from NOW + 10 + 30, when the old one stops.
    assert keys.get(new) is not None and new in keys.jwks_json.decode()
    assert keys.signer(NOW + 39.9).kid == old
    assert keys.signer(NOW + 40).kid == new != old
    assert keys.get(old) is not None  # still verifies tokens it signed
    # Kept until the last token it signed (just before NOW + 40) expired.
    await keys.reload(NOW + 40 + 1805 + KEY_CHECK_INTERVAL - 0.1)
    assert keys.get(old) is not None
    await keys.reload(NOW + 40 + 1805 + KEY_CHECK_INTERVAL)
    assert keys.get(old) is None and keys.get(new) is not None
    assert old not in keys.jwks_json.decode()


async def test_ensure_active_is_idempotent() -> None:
    repo = MemoryStore()
    keys = KeySet(repo, KeyCipher(b"m" * 32), "EdDSA", publish_for=1805)
    await keys.ensure_active(NOW)
    await keys.ensure_active(NOW + 1)
    assert len(await repo.list_keys()) == 1


async def test_a_replica_whose_key_checks_fail_stops_signing() -> None:
    keys = KeySet(MemoryStore(), KeyCipher(b"m" * 32), "EdDSA", publish_for=1805, publish_ahead=10)
    await keys.ensure_active(NOW)
    watch = asyncio.create_task(keys.watch())
    await asyncio.sleep(0)  # the watch has started: staleness now fails closed
    try:
        assert keys.signer(NOW).kid
        assert keys._loaded_mono is not None
        keys._loaded_mono -= 10.5  # as if every check for 10.5 s had failed
        with pytest.raises(StoreUnavailable):
            keys.signer(NOW)
        await keys.reload(NOW)
        assert keys.signer(NOW).kid
    finally:
        watch.cancel()


async def test_revoking_a_retired_key_leaves_the_signer_alone() -> None:
    keys = KeySet(MemoryStore(), KeyCipher(b"m" * 32), "EdDSA", publish_for=1805, publish_ahead=0)
    await keys.ensure_active(NOW)
    old = keys.signer(NOW).kid
    new = (await keys.rotate(NOW + 1)).kid
    assert await keys.revoke(old, NOW + 2) is None
    assert keys.signer(NOW + 2).kid == new and keys.is_revoked(old) and keys.get(old) is None
    with pytest.raises(KeyError):
        await keys.revoke(old, NOW + 3)
    replacement = await keys.revoke(new, NOW + 3)
    assert replacement is not None and keys.signer(NOW + 3).kid == replacement.kid
