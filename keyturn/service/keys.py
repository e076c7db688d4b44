"""Signing keys: the active signer, verify-only older keys, and the JWKS.

Keys live in the database so every replica signs with the same active key;
the private half is encrypted (AES-256-GCM, the ``kid`` as associated data)
under a key derived from the master key. An older key stays published until
every token it signed has expired, then leaves.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from jwt.algorithms import get_default_algorithms

from keyturn.core.refresh import b64encode
from keyturn.core.tokens import SigningKey
from keyturn.errors import ConfigError
from keyturn.stores.protocols import KeyStore, StoredKey

log = logging.getLogger("keyturn.keys")
_ALGS = get_default_algorithms()
HS256_MIN_BYTES = 32


def derive(master: bytes, purpose: str) -> bytes:
    """A 256-bit subkey of the master key for one purpose, so the refresh MAC
    key and the key-encryption key are independent."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"keyturn/{purpose}/v1".encode()).derive(master)


class KeyCipher:
    def __init__(self, master: bytes) -> None:
        self._aead = AESGCM(derive(master, "signing-keys"))

    def seal(self, kid: str, raw: bytes) -> bytes:
        nonce = secrets.token_bytes(12)
        return nonce + self._aead.encrypt(nonce, raw, kid.encode())

    def open(self, kid: str, sealed: bytes) -> bytes:
        return self._aead.decrypt(sealed[:12], sealed[12:], kid.encode())


def generate(alg: str, cipher: KeyCipher, now: float) -> tuple[StoredKey, SigningKey]:
    """A fresh key of ``alg`` (EdDSA = Ed25519, ES256 = P-256, HS256 = 256-bit secret)."""
    kid = b64encode(secrets.token_bytes(12))
    private: Any
    if alg == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
    elif alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    elif alg == "HS256":
        secret = secrets.token_bytes(HS256_MIN_BYTES)
        stored = StoredKey(kid, alg, cipher.seal(kid, secret), "{}", now)
        return stored, SigningKey.create(kid, alg, secret, secret)
    else:
        raise ValueError(f"unsupported algorithm {alg}")
    raw = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    jwk = _ALGS[alg].to_jwk(private.public_key(), as_dict=True)
    jwk.update({"kid": kid, "alg": alg, "use": "sig"})
    stored = StoredKey(kid, alg, cipher.seal(kid, raw), orjson.dumps(jwk).decode(), now)
    return stored, SigningKey.create(kid, alg, private, private.public_key())


def load(stored: StoredKey, cipher: KeyCipher) -> SigningKey:
    try:
        raw = cipher.open(stored.kid, stored.private_enc)
    except InvalidTag:
        raise ConfigError(
            "KEYTURN_MASTER_KEY: it does not decrypt the signing keys in the database (wrong master key?)"
        ) from None
    if stored.alg == "HS256":
        if len(raw) < HS256_MIN_BYTES:
            # RFC 7518 §3.2: refuse to start rather than sign with a weak key.
            raise ConfigError(f"HS256 key {stored.kid} has fewer than 256 bits; rotate it")
        return SigningKey.create(stored.kid, stored.alg, raw, raw)
    private = serialization.load_pem_private_key(raw, password=None)
    return SigningKey.create(stored.kid, stored.alg, private, private.public_key())


class KeySet:
    """The keys one process signs and verifies with, loaded from the store.

    Lookups are synchronous dict reads on the hot path; ``reload`` refreshes
    from the database (on an unknown ``kid`` at most once a second, so
    garbage ``kid`` values cannot make us hammer the database).
    """

    def __init__(self, repo: KeyStore, cipher: KeyCipher, alg: str, publish_for: float) -> None:
        self._repo = repo
        self._cipher = cipher
        self._alg = alg
        self._publish_for = publish_for
        self._keys: dict[str, SigningKey] = {}
        self._stored: list[StoredKey] = []
        self._active: SigningKey | None = None
        self._last_reload = float("-inf")
        self._lock = asyncio.Lock()
        self.jwks_json: bytes = b'{"keys":[]}'

    @property
    def active(self) -> SigningKey:
        assert self._active is not None, "KeySet.ensure_active() was not awaited"
        return self._active

    @property
    def algorithms(self) -> tuple[str, ...]:
        return (self._alg,)

    def get(self, kid: str) -> SigningKey | None:
        return self._keys.get(kid)

    async def ensure_active(self, now: float) -> None:
        """Load keys; create an active key of the configured algorithm if
        there is none."""
        await self.reload(now)
        if self._active is None:
            stored, _ = generate(self._alg, self._cipher, now)
            # Replicas starting together on an empty database race here: the
            # store inserts only if no active key exists yet, so all agree.
            if await self._repo.add_first_key(stored):
                log.info("created signing key", extra={"kid": stored.kid, "alg": stored.alg})
            await self.reload(now)

    async def rotate(self, now: float) -> StoredKey:
        """Make a new active key; the old ones become verify-only."""
        stored, _ = generate(self._alg, self._cipher, now)
        await self._repo.add_key(stored)
        await self._repo.retire_keys_except(stored.kid, now)
        await self.reload(now)
        return stored

    async def import_secret(self, secret: bytes, now: float) -> str:
        """Make a configured HS256 secret the active key (once: its ``kid`` is
        derived from it, so a restart does not import it again)."""
        import hashlib

        if len(secret) < HS256_MIN_BYTES:
            raise ConfigError("KEYTURN_HS256_SECRET: must have at least 256 bits (32 bytes)")
        kid = "hs-" + b64encode(hashlib.sha256(b"keyturn-kid" + secret).digest()[:12])
        if any(s.kid == kid for s in await self._repo.list_keys()):
            return kid
        await self._repo.add_key(StoredKey(kid, "HS256", self._cipher.seal(kid, secret), "{}", now))
        await self._repo.retire_keys_except(kid, now)
        await self.reload(now)
        return kid

    def active_created_at(self) -> float:
        active = self._active
        return next((s.created_at for s in self._stored if active is not None and s.kid == active.kid), 0.0)

    async def reload_if_stale(self, now: float, min_interval: float = 1.0) -> bool:
        if now - self._last_reload < min_interval:
            return False
        await self.reload(now)
        return True

    async def reload(self, now: float) -> None:
        async with self._lock:
            self._last_reload = now
            stored = await self._repo.list_keys()
            keys: dict[str, SigningKey] = {}
            published: list[dict[str, Any]] = []
            live = [
                s for s in stored
                if s.retired_at is None or now < s.retired_at + self._publish_for
            ]
            for s in live:
                keys[s.kid] = self._keys.get(s.kid) or load(s, self._cipher)
                jwk = orjson.loads(s.public_jwk)
                if jwk:
                    published.append(jwk)
            candidates = sorted(
                (s for s in live if s.retired_at is None and s.alg == self._alg),
                key=lambda s: (s.created_at, s.kid),
            )
            self._keys = keys
            self._stored = live
            self._active = keys[candidates[-1].kid] if candidates else None
            self.jwks_json = orjson.dumps({"keys": published})

    def describe(self) -> list[StoredKey]:
        return list(self._stored)
