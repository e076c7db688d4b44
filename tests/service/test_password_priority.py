"""Hashing yields the CPU to the event loop: the hashing pool's threads, and
the lane threads argon2 starts from them, run at a lower CPU priority than
the thread that runs the event loop, so on a core they share a refresh is
not served in turn with every lane of every running login."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from keyturn.service.passwords import PasswordHasher

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="thread priorities read from /proc")

SCHED_IDLE = 5
DEADLINE = 20.0


def priority(tid: int) -> tuple[int, int] | None:
    """(is SCHED_IDLE, nice) of a thread of this process, higher = yields
    more; None once the thread is gone."""
    try:
        stat = Path(f"/proc/self/task/{tid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
    return (int(fields[38]) == SCHED_IDLE, int(fields[16]))  # policy, nice


def tids() -> set[int]:
    return {int(t) for t in os.listdir("/proc/self/task")}


async def test_the_hashing_threads_run_below_the_event_loop_thread() -> None:
    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, threads=2)
    try:
        await asyncio.gather(*(hasher.verify(None, "a wrong password") for _ in range(4)))
        pool = [t for t in threading.enumerate() if t.name.startswith("keyturn-argon2")]
        assert pool
        loop_thread = priority(threading.get_native_id())
        assert loop_thread is not None
        for t in pool:
            assert t.native_id is not None
            assert (priority(t.native_id) or (False, 0)) > loop_thread, t.name
    finally:
        hasher.close()


async def test_argon2s_lane_threads_inherit_the_low_priority() -> None:
    # Several lanes: argon2 runs each in a thread of its own (not a Python
    # thread) that it starts from the pool thread for every slice.
    hasher = PasswordHasher(time_cost=2, memory_cost=16_384, parallelism=4, threads=1)
    loop_thread = priority(threading.get_native_id())
    before = tids()
    seen: dict[int, tuple[int, int]] = {}
    stop = threading.Event()

    python: set[int | None] = set()  # the pool thread lowers itself once started: not a lane

    def lanes() -> dict[int, tuple[int, int]]:
        python.update(t.native_id for t in threading.enumerate())
        return {tid: p for tid, p in seen.items() if tid not in python}

    def watch() -> None:
        while not stop.is_set():
            for tid in tids() - before:
                found = priority(tid)
                if found is not None:
                    seen.setdefault(tid, found)
            time.sleep(0.0002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        deadline = time.monotonic() + DEADLINE
        while not lanes() and time.monotonic() < deadline:  # bounded
            await hasher.verify(None, "a wrong password")
    finally:
        stop.set()
        watcher.join()
        hasher.close()
    assert loop_thread is not None
    assert lanes()
    assert all(p > loop_thread for p in lanes().values()), lanes()
