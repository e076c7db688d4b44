"""Auto-pipelining: the Redis commands that concurrent requests issue in one
event-loop iteration go out together, as one redis-py pipeline.

Under load many refreshes are in flight in one loop. Sent one by one, each
EVALSHA costs its own write, read and pool checkout. Here the first command
of an iteration yields once (its task steps again through ``call_soon``:
never held back for a timer, as ioredis does) and every command issued
meanwhile joins it: one write and one read for all of them. On Redis
Cluster, redis-py's cluster pipeline splits the batch by slot, one pipeline
per node. A command alone in its iteration is sent as is, from its caller's
task, without a pipeline.

Each caller still gets its own answer:

* a command's own error (a Lua error, WRONGTYPE) reaches that caller only;
* NOSCRIPT for a script registered here (the server restarted or failed
  over) is sent again as EVAL, for those commands only: a script that
  answered NOSCRIPT never ran, so sending it again is safe;
* a failure of the whole batch (connection lost, timeout) reaches every
  caller in it as an exception of the same class, so each store guard
  answers 503;
* a caller that gave up (the guard's timeout cancels it) before its batch
  left is not sent at all; after, its answer is dropped. A batch is sent
  from a task of its own, so no caller's cancellation reaches the others.

Only the one-slot commands the stores issue on the request path are
batched. Everything else — SCAN, CONFIG, PING and SCRIPT LOAD (sent to every
Cluster node), the connection pool — goes straight to the client.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Coroutine, Sequence
from typing import Any, TypeAlias, cast

import redis.asyncio as aioredis
from redis import exceptions as rx
from redis.commands.core import AsyncScript, BasicKeyCommands, HashCommands, ScriptCommands

Command: TypeAlias = "tuple[tuple[Any, ...], dict[str, Any]]"
Client: TypeAlias = "aioredis.Redis | aioredis.RedisCluster"
_Forming: TypeAlias = "tuple[asyncio.AbstractEventLoop, list[tuple[Command, asyncio.Future[Any]]]]"

# The methods whose commands join a batch: one key, or keys of one slot.
BATCHED = frozenset({"get", "set", "mget", "hget", "hgetall", "hmget", "hset", "evalsha", "eval"})

# Raised by a whole pipeline before anything was sent (an argument that
# cannot be encoded, keys of several slots): each command is then sent on
# its own, so only the caller at fault fails.
_REFUSED_BEFORE_SENDING: tuple[type[Exception], ...] = (rx.DataError, rx.RedisClusterException)


class _Recorder(BasicKeyCommands, HashCommands, ScriptCommands):
    """redis-py's own argument building, without a connection: a command
    method returns the command it would send."""

    _event_dispatcher: Any = None  # declared by redis-py's protocol; no command here uses it

    def execute_command(self, *args: Any, **options: Any) -> Command:
        return args, options


_RECORD = _Recorder()


class AutoPipeline:
    """A redis-py asyncio client (single node or Cluster) whose request-path
    commands are pipelined across concurrent callers; see the module
    docstring. Every other attribute is the wrapped client's."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._forming: _Forming | None = None  # the batch of this loop iteration
        self._scripts: dict[str, str | bytes] = {}  # sha -> source, for EVAL after NOSCRIPT
        self._sending: set[asyncio.Task[None]] = set()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in BATCHED:
            record = getattr(_RECORD, name)

            def queued(*args: Any, **kwargs: Any) -> Coroutine[Any, Any, Any]:
                return self._call(record(*args, **kwargs))

            return queued
        return getattr(self.client, name)

    def register_script(self, script: str | bytes) -> AsyncScript:
        """A script whose EVALSHA goes through the batch (redis-py's script
        object calls ``evalsha`` on its client: here, this one)."""
        bound = AsyncScript(cast(Any, self), script)
        self._scripts[bound.sha] = script
        return bound

    async def aclose(self) -> None:
        await asyncio.gather(*self._sending, return_exceptions=True)
        await self.client.aclose()

    # --- the batch --------------------------------------------------------------

    async def _call(self, command: Command) -> Any:
        loop = asyncio.get_running_loop()
        forming = self._forming
        if forming is not None and forming[0] is loop:  # a batch is forming: join it
            answer: asyncio.Future[Any] = loop.create_future()
            forming[1].append((command, answer))
            return await answer
        # The first command of this iteration leads: it yields once (the task
        # steps again through call_soon, after every callback ready now) and
        # takes whatever joined meanwhile. Alone, it is sent from this task.
        forming = (loop, [])
        self._forming = forming
        try:
            await asyncio.sleep(0)
        except BaseException:  # the leader gave up: the others still leave
            self._spawn(self._close(forming))
            raise
        others = self._close(forming)
        if others:
            own: asyncio.Future[Any] = loop.create_future()
            self._spawn([(command, own), *others])
            result = await own
        else:
            result = (await self._run([command]))[0]
        if isinstance(result, Exception):
            raise result
        return result

    def _close(self, forming: _Forming) -> list[tuple[Command, asyncio.Future[Any]]]:
        """Stop ``forming`` taking commands; those whose callers still wait."""
        if self._forming is forming:
            self._forming = None
        return [(command, answer) for command, answer in forming[1] if not answer.done()]

    def _spawn(self, batch: list[tuple[Command, asyncio.Future[Any]]]) -> None:
        """Send ``batch`` from a task of its own, so that no caller's
        cancellation reaches the others."""
        if batch:
            task = asyncio.get_running_loop().create_task(self._send(batch))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[tuple[Command, asyncio.Future[Any]]]) -> None:
        answers = [answer for _, answer in batch]
        try:
            try:
                results = await self._run([command for command, _ in batch])
            except Exception as exc:  # the whole batch failed: every caller hears it
                results = [_own_copy(exc) for _ in batch]
            for answer, result in zip(answers, results, strict=True):
                if not answer.done():
                    if isinstance(result, Exception):
                        answer.set_exception(result)
                    else:
                        answer.set_result(result)
        finally:  # cancelled with the loop: nobody waits forever
            for answer in answers:
                if not answer.done():
                    answer.set_exception(rx.ConnectionError("the client closed before the reply"))

    async def _run(self, commands: Sequence[Command]) -> list[Any]:
        """The replies in order, an error as its exception; NOSCRIPT of a known
        script answered by EVAL."""
        results = await self._execute(commands)
        again = [
            i for i, (result, (args, _)) in enumerate(zip(results, commands, strict=True))
            if isinstance(result, rx.NoScriptError) and args[0] == "EVALSHA" and args[1] in self._scripts
        ]
        if again:
            evals = [(("EVAL", self._scripts[commands[i][0][1]], *commands[i][0][2:]), commands[i][1]) for i in again]
            try:
                retried = await self._execute(evals)
            except Exception as exc:  # only these failed: the others' replies stand
                retried = [_own_copy(exc) for _ in again]
            for i, result in zip(again, retried, strict=True):
                results[i] = result
        return results

    async def _execute(self, commands: Sequence[Command]) -> list[Any]:
        if len(commands) == 1:
            return [await self._one(commands[0])]
        pipe = self.client.pipeline(transaction=False)
        for args, options in commands:
            pipe.execute_command(*args, **options)
        try:
            return list(await pipe.execute(raise_on_error=False))
        except _REFUSED_BEFORE_SENDING:
            return list(await asyncio.gather(*(self._one(command) for command in commands)))

    async def _one(self, command: Command) -> Any:
        args, options = command
        try:
            return await self.client.execute_command(*args, **options)
        except Exception as exc:  # noqa: BLE001 - this command's own answer, as a pipeline gives it
            return exc


def _own_copy(exc: Exception) -> Exception:
    """The same fault for another caller, with the driver's traceback (the
    store guard reads it to tell a driver failure from a bug)."""
    try:
        twin = copy.copy(exc)
    except Exception:  # noqa: BLE001 - an exception class that cannot be rebuilt
        return exc
    return twin.with_traceback(exc.__traceback__)
