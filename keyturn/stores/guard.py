"""One store call, bounded and classified: what every engine's guard
(``stores.sql.engine.guarded``, ``stores.redis.sessions.redis_guarded``)
runs.

* **A bound, not a hint.** The call runs in its own task and the caller
  waits at most ``timeout``: whatever hangs — pool acquisition, the
  statement, the connection reset a cancelled call performs on its way
  out — the caller answers 503 on time and the hung task finishes (or
  fails) on its own, unobserved.
* **A dead pooled connection** (the server restarted under the pool) gets
  one retry on a fresh connection, inside the same bound. Every store
  operation is safe to repeat: a repeated rotate compare-and-set lands in
  the grace path and returns the same successor.
* **Any failure raised inside the driver is the store's**: 503
  ``store_unavailable``, fail closed, never a 500 — whatever its class
  (redis-py's cluster client raises ``RuntimeError``/``AttributeError``
  from closed transports during a failover). Unexpected ones are logged
  once with their traceback and the store's name. An exception raised by
  keyturn's own code is a bug and propagates as one.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Awaitable, Callable
from typing import TypeVar

from keyturn.errors import KeyturnError, StoreUnavailable

T = TypeVar("T")

log = logging.getLogger("keyturn.stores")

# Packages whose frames mean "raised inside the driver call".
_DRIVERS = frozenset({"redis", "sqlalchemy", "asyncpg", "asyncmy", "aiosqlite", "pymysql", "sqlite3", "_sqlite3"})

# Calls given up on but still running: held so they are not collected
# mid-flight, and their outcome is retrieved so nothing is reported as
# "never retrieved".
_ABANDONED: set[asyncio.Future[object]] = set()


def raised_by_driver(exc: BaseException) -> bool:
    """True when the innermost frame of ``exc`` that belongs to either a
    driver or keyturn belongs to a driver (stdlib frames, such as an
    asyncio transport, do not decide)."""
    frames = [frame for frame, _ in traceback.walk_tb(exc.__traceback__)]
    for frame in reversed(frames):
        top = str(frame.f_globals.get("__name__", "")).partition(".")[0]
        if top in _DRIVERS:
            return True
        if top == "keyturn" and frame.f_globals.get("__name__") != __name__:
            return False
    return True


def _abandon(task: asyncio.Future[object]) -> None:
    task.cancel()
    _ABANDONED.add(task)

    def done(t: asyncio.Future[object]) -> None:
        _ABANDONED.discard(t)
        if not t.cancelled():
            t.exception()

    task.add_done_callback(done)


def _settle(outcome: asyncio.Future[bool], answered: bool) -> None:
    if not outcome.done():
        outcome.set_result(answered)


async def bounded(
    call: Callable[[], Awaitable[T]],
    *,
    store: str,
    timeout: float,
    faults: tuple[type[BaseException], ...],
    connection_lost: Callable[[BaseException], bool],
    before_retry: Callable[[], Awaitable[None]] | None = None,
) -> T:
    """Run ``call`` within ``timeout``; see the module docstring.

    The caller waits on one future that whichever comes first settles: the
    call's task as it returns (True) or a timer (False). Cheaper than
    ``asyncio.wait`` on every store call, and one loop pass shorter: the
    caller is woken by the task's last step, not by its done-callback."""
    loop = asyncio.get_running_loop()
    outcome: asyncio.Future[bool] = loop.create_future()

    async def attempt() -> T:
        try:
            try:
                return await call()
            except Exception as exc:
                if not connection_lost(exc):
                    raise
            if before_retry is not None:
                await before_retry()
            return await call()
        finally:
            # The task is done by the time the woken caller runs: its
            # result is set in the same step, the caller's wake-up is queued.
            _settle(outcome, True)

    task = loop.create_task(attempt())
    timer = loop.call_later(timeout, _settle, outcome, False)
    try:
        answered = await outcome
    except asyncio.CancelledError:
        timer.cancel()
        _abandon(task)  # type: ignore[arg-type]
        raise
    timer.cancel()
    if not answered:
        _abandon(task)  # type: ignore[arg-type]
        raise StoreUnavailable()
    exc = task.exception()
    if exc is None:
        return task.result()
    if isinstance(exc, KeyturnError):
        raise exc
    if isinstance(exc, faults):
        raise StoreUnavailable() from exc
    if isinstance(exc, Exception) and raised_by_driver(exc):
        log.error(
            "store %s failed: %s: %s", store, type(exc).__name__, exc,
            exc_info=(type(exc), exc, exc.__traceback__), extra={"store": store},
        )
        raise StoreUnavailable() from exc
    raise exc
