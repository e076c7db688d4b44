"""Signing keys: the active signer, verify-only older keys, and the JWKS.

Keys live in the database so every replica signs with the same active key;
the private half is encrypted (AES-256-GCM, the ``kid`` as associated data)
under a key derived from the master key.

Rollover across replicas (the order that never refuses a good token):

1. ``rotate`` adds the new key *published, not yet signing*: it is in every
   replica's JWKS at the next key check (``KEY_CHECK_INTERVAL``), and no
   replica signs with it before ``activates_at`` = now + ``publish_ahead``,
   so verifiers that refetch their JWKS within that time have it first.
2. At ``activates_at`` every replica switches by its own clock: the signer is
   chosen per token from the loaded keys, not by a reload. The old key is
   retired at that same instant.
3. A retired key stays published (and accepted) for the access-token TTL +
   clock leeway + one key check after its retirement: the last token any
   replica could have signed with it has expired by then.

A replica whose key check has failed for longer than ``publish_ahead`` (at
most ``MAX_STALE``) refuses to sign (``store_unavailable``): it might have missed a rotation or
a revocation. ``revoke`` takes a compromised key out at once: it leaves the
JWKS, its tokens are refused as ``signing_key_revoked`` (refresh helps), and
if it was signing a replacement signs from now on.

The key set also holds the tokens it verified (``verified``), because it is
what knows when a key stops counting: a key revoked here, or learnt revoked
(or gone) on a reload, forgets the tokens it signed.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from keyturn.core.algorithms import ALGORITHMS, ED25519_NAMES
from keyturn.core.refresh import b64encode
from keyturn.core.tokens import SigningKey
from keyturn.core.verified import VerifiedTokens
from keyturn.errors import ConfigError, StoreUnavailable
from keyturn.service.feed import RevocationNotifier
from keyturn.stores.protocols import KeyStore, StoredKey

log = logging.getLogger("keyturn.keys")
_ALGS = ALGORITHMS
HS256_MIN_BYTES = 32
KEY_CHECK_INTERVAL = 1.0  # seconds between a replica's reads of the key table
MAX_STALE = 30.0  # seconds a replica signs without a successful key check
FEED_PREFIX = "key:"  # a revoked key on the revocation feed (session ids never contain ':')


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


def generate(
    alg: str, cipher: KeyCipher, now: float, activates_at: float | None = None
) -> tuple[StoredKey, SigningKey]:
    """A fresh key of ``alg`` (EdDSA and Ed25519 = Ed25519, ES256 = P-256,
    HS256 = 256-bit secret). The JWKS entry's ``alg`` is ``alg`` itself."""
    kid = b64encode(secrets.token_bytes(12))
    private: Any
    if alg in ED25519_NAMES:
        private = ed25519.Ed25519PrivateKey.generate()
    elif alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    elif alg == "HS256":
        secret = secrets.token_bytes(HS256_MIN_BYTES)
        stored = StoredKey(kid, alg, cipher.seal(kid, secret), "{}", now, activates_at=activates_at)
        return stored, SigningKey.create(kid, alg, secret, secret)
    else:
        raise ValueError(f"unsupported algorithm {alg}")
    raw = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    jwk = _ALGS[alg].to_jwk(private.public_key(), as_dict=True)
    jwk.update({"kid": kid, "alg": alg, "use": "sig"})
    stored = StoredKey(kid, alg, cipher.seal(kid, raw), orjson.dumps(jwk).decode(), now, activates_at=activates_at)
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
    from the database (``watch`` runs it every ``KEY_CHECK_INTERVAL``; an
    unknown ``kid`` triggers one at most once a second, so garbage ``kid``
    values cannot make us hammer the database).
    """

    def __init__(
        self, repo: KeyStore, cipher: KeyCipher, alg: str, publish_for: float, publish_ahead: float = 0.0,
        clock: Callable[[], float] = time.time, verified: VerifiedTokens | None = None,
    ) -> None:
        self._repo = repo
        self.verified = verified if verified is not None else VerifiedTokens()
        self._cipher = cipher
        self._alg = alg
        # A retired key stays published this long: TTL + leeway, plus one
        # key check for a replica's clock to pass the switch.
        self._publish_for = publish_for + KEY_CHECK_INTERVAL
        self._publish_ahead = publish_ahead
        self._now = clock
        # Never longer than the publish-ahead time (or a rotation could be
        # missed), and at most MAX_STALE (a missed revocation must not last).
        self._stale_after = max(2 * KEY_CHECK_INTERVAL, min(publish_ahead, MAX_STALE))
        self._keys: dict[str, SigningKey] = {}
        self._stored: list[StoredKey] = []
        self._revoked: frozenset[str] = frozenset()
        self._last_reload = float("-inf")
        self._loaded_mono: float | None = None  # set once ``watch`` runs: staleness then fails closed
        self._lock = asyncio.Lock()
        self.jwks_json: bytes = b'{"keys":[]}'

    def signer(self, now: float) -> SigningKey:
        """The key to sign with at ``now``: the most recently activated key
        that signs then (every replica picks the same one by its clock)."""
        mono = self._loaded_mono
        if mono is not None and time.monotonic() - mono > self._stale_after:
            # We may have missed a rotation or a revocation: do not sign.
            raise StoreUnavailable("the signing keys could not be checked recently; retry shortly")
        signing = [s for s in self._stored if s.alg == self._alg and s.signs_at(now)]
        if not signing:
            # Before ensure_active, or all keys retired: the newest unrevoked one.
            signing = [s for s in self._stored if s.alg == self._alg and s.revoked_at is None]
        assert signing, "KeySet.ensure_active() was not awaited"
        newest = max(signing, key=lambda s: (s.starts, s.created_at, s.kid))
        return self._keys[newest.kid]

    @property
    def active(self) -> SigningKey:
        """The key signing now (CLI, diagnostics, tests)."""
        return self.signer(self._now())

    @property
    def algorithms(self) -> tuple[str, ...]:
        """The configured algorithm, and both names of Ed25519 when it is
        either: after a switch between ``EdDSA`` and ``Ed25519`` the tokens
        of the older keys stay valid until they expire (each key still
        verifies only the name it was made for)."""
        return ED25519_NAMES if self._alg in ED25519_NAMES else (self._alg,)

    def get(self, kid: str) -> SigningKey | None:
        return self._keys.get(kid)

    def is_revoked(self, kid: str) -> bool:
        return kid in self._revoked

    async def ensure_active(self, now: float) -> None:
        """Load keys; create an active key of the configured algorithm if
        there is none."""
        await self.reload(now)
        if not any(s.alg == self._alg and s.revoked_at is None for s in self._stored):
            stored, _ = generate(self._alg, self._cipher, now)
            # Replicas starting together on an empty database race here: the
            # store inserts only if no active key exists yet, so all agree.
            if await self._repo.add_first_key(stored):
                log.info("created signing key", extra={"kid": stored.kid, "alg": stored.alg})
            await self.reload(now)

    async def rotate(self, now: float) -> StoredKey:
        """Publish a new key now; it signs from ``now + publish_ahead`` on,
        when the others stop signing (and stay published until their last
        tokens expired)."""
        return await self._add_signer(now, now + self._publish_ahead)

    async def revoke(self, kid: str, now: float, feed: RevocationNotifier | None = None) -> StoredKey | None:
        """Revoke a compromised key; if it was signing (or about to), a new
        key signs from now on. Returns that new key, or ``None``. The feed
        entry lives as long as a token of that key could (TTL + leeway) and
        tells Verifiers to refuse its tokens."""
        await self.reload(now)
        target = next((s for s in self._stored if s.kid == kid), None)
        if target is None or not await self._repo.revoke_key(kid, now):
            raise KeyError(kid)
        replacement = None
        if target.retired_at is None or target.retired_at > now:
            replacement = await self._add_signer(now, now)
        else:
            await self.reload(now)
        if feed is not None:
            await feed.notify([FEED_PREFIX + kid], now=now)
        log.warning("signing key revoked", extra={"kid": kid})
        return replacement

    async def _add_signer(self, now: float, activates_at: float) -> StoredKey:
        stored, _ = generate(self._alg, self._cipher, now, activates_at)
        await self._repo.add_key(stored)
        await self._repo.retire_keys_except(stored.kid, activates_at)
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

    def newest_created_at(self) -> float:
        """When the newest usable key was made (scheduled rotation counts
        from it, so a key still waiting to sign is not rotated again)."""
        return max((s.created_at for s in self._stored if s.alg == self._alg and s.revoked_at is None), default=0.0)

    async def reload_if_stale(self, now: float, min_interval: float = 1.0) -> bool:
        if now - self._last_reload < min_interval:
            return False
        await self.reload(now)
        return True

    async def watch(self) -> None:
        """Re-read the keys every ``KEY_CHECK_INTERVAL`` (runs for the life of
        the server): how a replica sees new and revoked keys within a second.
        From here on, a replica whose checks keep failing stops signing."""
        self._loaded_mono = time.monotonic()
        while True:
            await asyncio.sleep(KEY_CHECK_INTERVAL)
            try:
                await self.reload(self._now())
            except Exception:  # noqa: BLE001 - logged; staleness fails closed in signer()
                log.warning("signing-key check failed", exc_info=True)

    async def reload(self, now: float) -> None:
        async with self._lock:
            self._last_reload = now
            stored = await self._repo.list_keys()
            keys: dict[str, SigningKey] = {}
            published: list[dict[str, Any]] = []
            live = [
                s for s in stored
                if s.revoked_at is None and (s.retired_at is None or now < s.retired_at + self._publish_for)
            ]
            for s in live:
                keys[s.kid] = self._keys.get(s.kid) or load(s, self._cipher)
                jwk = orjson.loads(s.public_jwk)
                if jwk:
                    published.append(jwk)
            gone = self._keys.keys() - keys.keys()
            self._keys = keys
            self._stored = live
            # Revoked (here or by another replica) or past its publication:
            # the tokens it verified are forgotten (a hit re-checks anyway).
            self.verified.forget_keys(gone)
            self._revoked = frozenset(s.kid for s in stored if s.revoked_at is not None)
            self.jwks_json = orjson.dumps({"keys": published})
            if self._loaded_mono is not None:
                self._loaded_mono = time.monotonic()

    def describe(self) -> list[StoredKey]:
        return list(self._stored)

