"""Password hashing with argon2id, in a bounded pool off the event loop.

Unknown users are checked against a dummy hash so a login costs the same
work whether or not the account exists (no enumeration by timing).

Admission, because refreshes are the traffic that keeps people logged in
and a login storm must not starve them:

* hashes run in a pool of their own (threads sized from the CPU count;
  argon2 releases the GIL), so the event loop and the default executor —
  what a refresh uses — never wait behind a hash;
* at most ``queue`` hashes may be running or waiting; one more is refused
  at once with 503 ``overloaded`` and ``Retry-After`` (the client backs
  off) instead of joining a queue nobody would wait for;
* new hashes (registration, password change) may hold at most half the
  threads and half the queue, so a registration storm cannot starve logins.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from keyturn.errors import Overloaded

T = TypeVar("T")

RETRY_AFTER = 1.0  # seconds: a queue slot frees within a hash or two


class PasswordHasher:
    def __init__(
        self, *, time_cost: int = 3, memory_cost: int = 65_536, parallelism: int = 4,
        threads: int | None = None, queue: int | None = None,
    ) -> None:
        self._ph = _Argon2(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)
        self._dummy = self._ph.hash("keyturn dummy password for unknown users")
        # Each running hash holds memory_cost KiB: threads bound the memory.
        self.threads = threads or max(2, os.cpu_count() or 1)
        self.queue = queue or 8 * self.threads
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="keyturn-argon2")
        self._pending = 0
        self._new_pending = 0
        self._new_running = asyncio.Semaphore(max(1, self.threads // 2))

    @property
    def parameters(self) -> dict[str, int]:
        return {
            "time_cost": self._ph.time_cost,
            "memory_cost_kib": self._ph.memory_cost,
            "parallelism": self._ph.parallelism,
        }

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _admit(self, limit: int, pending: int) -> None:
        if pending >= limit:
            raise Overloaded(RETRY_AFTER)

    async def hash(self, password: str) -> str:
        self._admit(self.queue // 2, self._new_pending)
        self._admit(self.queue, self._pending)
        self._new_pending += 1
        self._pending += 1
        try:
            async with self._new_running:
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(self._pool, self._hash, password)
        finally:
            self._new_pending -= 1
            self._pending -= 1

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True iff ``password`` matches; with ``None`` the dummy hash is
        checked and the answer is always False. Raises ``Overloaded`` when
        the queue is full."""
        target = password_hash if password_hash is not None else self._dummy
        self._admit(self.queue, self._pending)
        self._pending += 1
        try:
            loop = asyncio.get_running_loop()
            ok = await loop.run_in_executor(self._pool, self._verify, target, password)
        finally:
            self._pending -= 1
        return ok and password_hash is not None

    def _hash(self, password: str) -> str:
        return self._ph.hash(password)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._ph.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._ph.check_needs_rehash(password_hash)
