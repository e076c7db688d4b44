"""Password hashing with argon2id, in a bounded pool off the event loop.

Unknown users are checked against a dummy hash so a login costs the same
work whether or not the account exists (no enumeration by timing).

Admission, because refreshes are the traffic that keeps people logged in
and a login storm must not starve them:

* hashes run in a pool of their own, one thread per core this process may
  run on (argon2 releases the GIL and runs its lanes in threads of its own:
  a second pool thread on one core only adds memory and cache pressure the
  event loop feels), so the event loop and the default executor — what a
  refresh uses — never wait behind a hash;
* its threads, and the lane threads argon2 starts from them, run at the
  lowest CPU priority (Linux ``SCHED_IDLE``, else nice 19): on a core the
  event loop shares, the scheduler would otherwise split it evenly between
  the loop and every lane of every running hash, and refreshes would wait
  behind logins anyway;
* at most ``queue`` hashes may be running or waiting; one more is refused
  at once with 503 ``overloaded`` and ``Retry-After`` (the client backs
  off) instead of joining a queue nobody would wait for;
* new hashes (registration, password change) may hold at most half the
  threads and half the queue, so a registration storm cannot starve logins.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from keyturn.errors import Overloaded
from keyturn.service import foreign_hashes

T = TypeVar("T")

RETRY_AFTER = 1.0  # seconds: a queue slot frees within a hash or two


def usable_cores() -> int:
    """The cores this process may run on (a pinned worker: its pin), not
    the machine's."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def lowest_cpu_priority() -> None:
    """Pool initializer: this thread (and the threads it starts, which
    inherit it) runs only when nothing else in the process wants the CPU.
    Lowering one's own priority needs no privilege; where neither way
    exists the pool runs at normal priority."""
    if not sys.platform.startswith("linux"):
        return  # elsewhere setpriority would take the thread id for a process id
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # 0: the calling thread
    except (AttributeError, OSError):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except OSError:
            pass


class PasswordHasher:
    def __init__(
        self, *, time_cost: int = 3, memory_cost: int = 65_536, parallelism: int = 4,
        threads: int | None = None, queue: int | None = None,
    ) -> None:
        self._ph = _Argon2(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)
        self._dummy = self._ph.hash("keyturn dummy password for unknown users")
        # Each running hash holds memory_cost KiB: threads bound the memory.
        self.threads = threads or usable_cores()
        self.queue = queue or 8 * self.threads
        self._pool = ThreadPoolExecutor(
            self.threads, thread_name_prefix="keyturn-argon2", initializer=lowest_cpu_priority,
        )
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

    @property
    def pending(self) -> int:
        """Hashes running or waiting."""
        return self._pending

    def has_room(self) -> None:
        """Raise ``Overloaded`` now if a check would be refused: a login
        turned away before it touches a store costs the event loop next to
        nothing, and under a storm the refusals are most of the traffic."""
        self._admit(self.queue, self._pending)

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
        if not password_hash.startswith("$argon2"):
            # Imported from another system; upgraded at this login.
            return foreign_hashes.verify(password_hash, password)
        try:
            return self._ph.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """Anything but argon2id with today's parameters."""
        if not password_hash.startswith("$argon2"):
            return True
        try:
            return self._ph.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True
