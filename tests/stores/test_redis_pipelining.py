"""Auto-pipelining (keyturn.stores.redis.pipelining): concurrent callers
share round trips, and each still gets its own answer."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis import exceptions as rx
from redis.asyncio.cluster import RedisCluster

from keyturn.errors import StoreUnavailable
from keyturn.stores.redis.pipelining import AutoPipeline
from keyturn.stores.redis.sessions import RedisSessionStore, open_client
from tests.stores import backends as b
from tests.stores.conftest import unique_prefix
from tests.stores.proxy import FaultProxy
from tests.stores.test_conformance import T0, add, new_user, rotate

ECHO = "return ARGV[1]"
FAIL = "return redis.error_reply('NOPE ' .. ARGV[1])"


class CountingRedis(aioredis.Redis):
    """Counts the pipelines it hands out."""

    pipelines = 0

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Any:
        self.pipelines += 1
        return super().pipeline(transaction, shard_hint)


class LostPipeline(aioredis.client.Pipeline):
    """A pipeline whose connection dies before any reply."""

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        await self.reset()
        raise rx.ConnectionError("connection lost")


class LosesSecondPipeline(CountingRedis):
    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Any:
        pipe = super().pipeline(transaction, shard_hint)
        if self.pipelines == 2:
            return LostPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)
        return pipe


@pytest.fixture
async def proxy(redis_url: str) -> AsyncIterator[FaultProxy]:
    p = FaultProxy("127.0.0.1", int(redis_url.rsplit(":", 1)[1].split("/")[0]))
    await p.start()
    try:
        yield p
    finally:
        await p.close()


@pytest.fixture
def prefix() -> str:
    return unique_prefix()


async def later(command: Any, *args: Any) -> Any:
    """The command issued from a task, in the same iteration as the others."""
    return await command(*args)


async def _drop(client: Any, prefix: str) -> None:
    async for key in client.scan_iter(match=f"{prefix}:*"):
        await client.delete(key)


async def _rotations_in_round_trips(store: RedisSessionStore, proxy: FaultProxy, n: int) -> int:
    """Round trips (bursts the proxy saw) for ``n`` concurrent rotations."""
    warm, *rest = [await add(store, new_user()) for _ in range(n + 1)]
    assert await rotate(store, warm, 0, T0 + 1, user_id=warm.user_id)  # the script is loaded, a connection open
    before = proxy.requests
    won = await asyncio.gather(*(rotate(store, s, 0, T0 + 1, user_id=s.user_id) for s in rest))
    assert won == [True] * n
    return proxy.requests - before


async def test_concurrent_rotations_share_one_round_trip(proxy: FaultProxy, prefix: str) -> None:
    url = f"redis://127.0.0.1:{proxy.port}/0"
    plain = RedisSessionStore(aioredis.Redis.from_url(url), prefix=prefix, timeout=5.0)
    batched = RedisSessionStore(open_client(url, timeout=5.0), prefix=prefix + "b", timeout=5.0)
    try:
        assert await _rotations_in_round_trips(plain, proxy, 30) >= 30  # one each, without batching
        assert await _rotations_in_round_trips(batched, proxy, 30) <= 2
    finally:
        await _drop(plain.client, prefix)
        await _drop(batched.client, prefix + "b")
        await plain.close()
        await batched.close()


async def test_a_command_alone_is_sent_without_a_pipeline(redis_url: str, prefix: str) -> None:
    raw = CountingRedis.from_url(redis_url)
    client = AutoPipeline(raw)
    try:
        await client.set(f"{prefix}:a", "1")
        assert await client.get(f"{prefix}:a") == b"1"
        assert raw.pipelines == 0
        assert await asyncio.gather(client.get(f"{prefix}:a"), client.get(f"{prefix}:nothing")) == [b"1", None]
        assert raw.pipelines == 1
    finally:
        await _drop(client, prefix)
        await client.aclose()


async def test_each_caller_gets_its_own_error(redis_url: str, prefix: str) -> None:
    client = AutoPipeline(aioredis.Redis.from_url(redis_url))
    echo, fail = client.register_script(ECHO), client.register_script(FAIL)
    try:
        await client.set(f"{prefix}:str", "x")
        answers = await asyncio.gather(
            echo(keys=[f"{prefix}:k"], args=["one"]),
            fail(keys=[f"{prefix}:k"], args=["two"]),
            later(client.hgetall, f"{prefix}:str"),  # WRONGTYPE
            echo(keys=[f"{prefix}:k"], args=["three"]),
            return_exceptions=True,
        )
        assert answers[0] == b"one" and answers[3] == b"three"
        assert isinstance(answers[1], rx.ResponseError) and "NOPE two" in str(answers[1])
        assert isinstance(answers[2], rx.ResponseError) and "WRONGTYPE" in str(answers[2])
        refused = await asyncio.gather(
            later(client.set, f"{prefix}:bad", {"not": "encodable"}),  # refused before anything is sent
            later(client.set, f"{prefix}:good", "1"),
            return_exceptions=True,
        )
        assert isinstance(refused[0], rx.DataError) and refused[1] is True
    finally:
        await _drop(client, prefix)
        await client.aclose()


async def test_noscript_is_answered_by_eval_for_those_commands_only(redis_server: b.RedisServer) -> None:
    raw = CountingRedis.from_url(redis_server.url)
    client = AutoPipeline(raw)
    echo = client.register_script(ECHO)
    try:
        assert await echo(keys=["k"], args=["warm"]) == b"warm"
        await raw.script_flush()  # as after a restart or a failover: the server forgot the script
        await raw.config_resetstat()
        answers = await asyncio.gather(
            *(echo(keys=[f"k{i}"], args=[str(i)]) for i in range(5)), later(client.get, "k"),
            later(client.evalsha, "0" * 40, 0),
            return_exceptions=True,
        )
        assert answers[:6] == [b"0", b"1", b"2", b"3", b"4", None]
        assert isinstance(answers[6], rx.NoScriptError)  # a script nobody registered here
        stats = await raw.info("commandstats")
        assert stats["cmdstat_evalsha"]["calls"] == 6
        assert stats["cmdstat_eval"]["calls"] == 5  # once each, in one more pipeline
        assert "cmdstat_script|load" not in stats
        assert raw.pipelines == 2
        assert await echo(keys=["k"], args=["again"]) == b"again"  # EVAL cached it
    finally:
        await client.aclose()


async def test_a_failed_eval_round_fails_only_its_callers(redis_server: b.RedisServer) -> None:
    raw = LosesSecondPipeline.from_url(redis_server.url)
    client = AutoPipeline(raw)
    echo = client.register_script(ECHO)
    try:
        await client.set("k", "v")
        await raw.script_flush()
        answers = await asyncio.gather(
            echo(keys=["a"], args=["1"]), later(client.get, "k"), echo(keys=["b"], args=["2"]),
            later(client.get, "k"), return_exceptions=True,
        )
        assert isinstance(answers[0], rx.ConnectionError) and isinstance(answers[2], rx.ConnectionError)
        assert answers[1] == answers[3] == b"v"
    finally:
        await client.aclose()


async def test_a_lost_connection_fails_every_caller_with_a_store_fault(proxy: FaultProxy, prefix: str) -> None:
    store = RedisSessionStore(open_client(f"redis://127.0.0.1:{proxy.port}/0", timeout=2.0), prefix=prefix,
                              timeout=2.0)
    try:
        assert await store.get_session("nosuch", user_id="u") is None
        await proxy.down("refuse")
        answers = await asyncio.gather(*(store.get_session(f"s{i}", user_id="u") for i in range(10)),
                                       return_exceptions=True)
        assert all(isinstance(a, StoreUnavailable) for a in answers), answers
        await proxy.up()
        assert await store.get_session("nosuch", user_id="u") is None
    finally:
        await store.close()


async def test_callers_that_give_up_do_not_break_the_batch(redis_url: str, prefix: str) -> None:
    raw = CountingRedis.from_url(redis_url)
    client = AutoPipeline(raw)
    try:
        # Before the batch leaves, the caller that leads it and another give
        # up: the rest is sent, their commands are not.
        calls = [asyncio.ensure_future(client.set(f"{prefix}:{name}", "1")) for name in ("lead", "early", "kept")]
        await asyncio.sleep(0)  # each has issued its command; the batch is still forming
        calls[0].cancel()
        calls[1].cancel()
        assert await asyncio.wait_for(calls[2], 5) is True
        await asyncio.sleep(0.05)
        assert await raw.exists(f"{prefix}:lead", f"{prefix}:early") == 0
        # After it left, the leader gives up: the other still gets its answer.
        sent = raw.pipelines
        lead = asyncio.ensure_future(client.set(f"{prefix}:late", "1"))
        other = asyncio.ensure_future(client.get(f"{prefix}:kept"))
        while raw.pipelines == sent:
            await asyncio.sleep(0)
        lead.cancel()
        assert await asyncio.wait_for(other, 5) == b"1"
        await asyncio.sleep(0.05)
        assert lead.cancelled() and await raw.exists(f"{prefix}:late") == 1
    finally:
        await _drop(client, prefix)
        await client.aclose()


async def test_cluster_batches_route_by_slot(redis_cluster_url: str, prefix: str) -> None:
    client = open_client(redis_cluster_url, timeout=5.0)
    echo = client.register_script(ECHO)
    keys = [f"{prefix}:{{{secrets.token_hex(4)}}}" for _ in range(40)]  # spread over the nodes
    try:
        await asyncio.gather(*(client.set(k, k) for k in keys))
        raw = client.client
        assert isinstance(raw, RedisCluster)
        await raw.script_flush()  # on every primary
        await raw.config_resetstat(target_nodes=RedisCluster.ALL_NODES)
        answers = await asyncio.gather(
            *(client.get(k) for k in keys),
            *(echo(keys=[k], args=[k]) for k in keys),
            client.mget(keys[:2]),  # keys of two slots: refused for this caller only
            return_exceptions=True,
        )
        assert answers[:80] == [k.encode() for k in keys] * 2
        assert isinstance(answers[80], rx.RedisClusterException)
        stats = (await raw.info("commandstats", target_nodes=RedisCluster.ALL_NODES)).values()
        assert sum(s.get("cmdstat_eval", {}).get("calls", 0) for s in stats) == 40  # NOSCRIPT answered by EVAL
        assert all("cmdstat_script|load" not in s for s in stats)
    finally:
        await asyncio.gather(*(client.delete(k) for k in keys))
        await client.aclose()
