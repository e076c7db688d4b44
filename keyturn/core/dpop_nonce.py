"""Server-provided DPoP nonces (RFC 9449 §8, §9), stateless: a nonce names
a time slot and carries a MAC of it under a key every replica derives from
the master key, so any replica accepts any replica's nonce and nothing is
stored. A nonce is accepted in its own slot and the next one, so it lives
between one and two slots; a client that holds an older one is told
``use_dpop_nonce`` with a fresh one and retries.
"""

from __future__ import annotations

import hashlib
import hmac
import struct

from keyturn.core.refresh import b64encode

SLOT = 60.0  # seconds
_MAC_BYTES = 16


class DpopNonces:
    def __init__(self, key: bytes, slot: float = SLOT) -> None:
        self._key = key
        self._slot = slot

    def _mint(self, index: int) -> str:
        raw = struct.pack(">Q", index)
        return b64encode(raw + hmac.new(self._key, raw, hashlib.sha256).digest()[:_MAC_BYTES])

    def current(self, now: float) -> str:
        """The nonce to hand out at ``now``."""
        return self._mint(int(now // self._slot))

    def is_valid(self, nonce: str | None, now: float) -> bool:
        """Minted by us (constant-time MAC check) in this slot or the one before."""
        if not isinstance(nonce, str) or len(nonce) > 64:
            return False
        index = int(now // self._slot)
        # Compare against both acceptable nonces, each in constant time.
        return any([hmac.compare_digest(nonce, self._mint(i)) for i in (index, index - 1)])
