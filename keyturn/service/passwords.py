"""Password hashing with argon2id, off the event loop.

Unknown users are checked against a dummy hash so a login costs the same
work whether or not the account exists (no enumeration by timing).
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class PasswordHasher:
    def __init__(self, *, time_cost: int = 3, memory_cost: int = 65_536, parallelism: int = 4) -> None:
        self._ph = _Argon2(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)
        self._dummy = self._ph.hash("keyturn dummy password for unknown users")
        # Bound concurrent hashes: each holds memory_cost KiB.
        self._slots = asyncio.Semaphore(4)

    @property
    def parameters(self) -> dict[str, int]:
        return {
            "time_cost": self._ph.time_cost,
            "memory_cost_kib": self._ph.memory_cost,
            "parallelism": self._ph.parallelism,
        }

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._ph.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True iff ``password`` matches; with ``None`` the dummy hash is
        checked and the answer is always False."""
        target = password_hash if password_hash is not None else self._dummy
        async with self._slots:
            ok = await asyncio.to_thread(self._verify, target, password)
        return ok and password_hash is not None

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._ph.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._ph.check_needs_rehash(password_hash)
