"""The Redis pieces of scale-out against a real Redis (REDIS_URL, which .ci/run sets), each
test in a key namespace of its own: the shared second-level read cache, the drop of a
source's cached reads on every replica, the shared request budget, and that a Redis which
does not answer never fails a read."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from gateway.scaleout.replicas import (
    RedisLink,
    RequestBudget,
    ScaleOut,
    SharedIdempotency,
    SharedReadCache,
)
from gateway.state.open import open_state
from gateway.upstream.cache import ReadCache
from tests.conftest import request_counts, zero_counts
from tests.tools import free_port, require_tool
from tests.tools import redis_url as local_redis_url


@pytest.fixture
async def redis_url() -> str:
    url = local_redis_url()
    try:
        async with Redis.from_url(url, socket_connect_timeout=2) as redis:
            await redis.ping()
    except OSError as exc:
        require_tool(False, f"Redis at REDIS_URL does not answer ({exc})", ".ci/run sets it")
    return url


@pytest.fixture
async def prefix(redis_url: str) -> AsyncIterator[str]:
    name = f"test-{uuid.uuid4().hex[:12]}"
    yield name
    async with Redis.from_url(redis_url) as redis:
        keys = [key async for key in redis.scan_iter(f"{name}:*")]
        if keys:
            await redis.delete(*keys)


async def test_second_level_is_shared_and_dropped_everywhere(redis_url, prefix, make_adapter, simulators):
    first, second = make_adapter("makini", cache_ttl=60), make_adapter("makini", cache_ttl=60)
    one = await ScaleOut.start(redis_url, {"erp": first}, prefix=prefix)
    two = await ScaleOut.start(redis_url, {"erp": second}, prefix=prefix)
    try:
        path = f"{first.prefix}/invoices"
        zero_counts(simulators)
        page = await first.client.get_json(path, {"page": 1})
        assert sum(request_counts(simulators)["makini"].values()) == 1
        assert await second.client.get_json(path, {"page": 1}) == page
        assert sum(request_counts(simulators)["makini"].values()) == 1, "a hit in Redis"
        assert second.client.cache.shared_hits == 1

        await asyncio.sleep(0.2)  # both replicas listen for drops by now
        first.client.cache.clear()  # a write or a webhook on the first replica
        await asyncio.sleep(0.3)
        assert await second.client.get_json(path, {"page": 1}) == page
        assert sum(request_counts(simulators)["makini"].values()) == 2, (
            "the second replica's local copy and the shared one were dropped"
        )
        # Right after its own drop (whose Redis part runs in the background) a replica does
        # not read the dropped copy back from Redis: a write compares against the upstream.
        second.client.cache.clear()
        assert await second.client.get_json(path, {"page": 1}) == page
        assert sum(request_counts(simulators)["makini"].values()) == 3
    finally:
        await one.close()
        await two.close()


async def test_per_credential_keys(redis_url, prefix):
    link = RedisLink(redis_url, prefix=prefix)
    cache = SharedReadCache(ReadCache(60, 10), "erp", link)
    assert cache.shared_key(("token-a", "http://x/1")) != cache.shared_key(("token-b", "http://x/1"))
    assert cache.shared_key(("token-a", "http://x/1")).startswith(f"{prefix}:cache:erp:")
    await link.close()


async def test_a_dead_redis_never_fails_a_read():
    link = RedisLink(f"redis://127.0.0.1:{free_port()}/0", prefix="unused")
    cache = SharedReadCache(ReadCache(60, 10), "erp", link)
    fetched = []

    async def fetch():
        fetched.append(1)
        return {"n": len(fetched)}

    started = time.monotonic()
    assert (await cache.get_or_fetch("k", fetch)).value == {"n": 1}
    assert (await cache.get_or_fetch("k", fetch)).value == {"n": 1}, "answered from the local level"
    assert (await cache.get_or_fetch("other", fetch)).value == {"n": 2}
    assert link.available is False and link.failures >= 1
    assert time.monotonic() - started < 3
    await link.close()


async def test_request_budget_is_shared(redis_url, prefix):
    links = [RedisLink(redis_url, prefix=prefix) for _ in range(2)]
    budgets = [RequestBudget("cloud", 3, link) for link in links]
    await asyncio.sleep(1 - time.time() % 1)  # start at a fresh second
    first_window = int(time.time())
    await asyncio.gather(*(budgets[n % 2].acquire() for n in range(9)))
    # 3 a second for both together: the last of 9 waits for the third window
    assert time.time() >= first_window + 2
    assert sum(budget.waits for budget in budgets) >= 6
    for link in links:
        await link.close()


async def test_idempotency_keys_are_honoured_across_replicas_with_their_own_sqlite(redis_url, prefix):
    replicas = [SharedIdempotency(open_state("sqlite:///:memory:"), RedisLink(redis_url, prefix=prefix))
                for _ in range(2)]
    first, second = replicas
    assert await first.claim_idempotency("web:erp", "key-1", "fp-a") is None
    pending = await second.claim_idempotency("web:erp", "key-1", "fp-a")
    assert pending is not None and pending.result is None, "the claim is seen by the other replica"
    await first.complete_idempotency("web:erp", "key-1", '{"invoice": 7}')
    done = await second.claim_idempotency("web:erp", "key-1", "fp-b")
    assert done is not None and (done.fingerprint, done.result) == ("fp-a", '{"invoice": 7}')
    # a failed write releases its claim everywhere
    assert await second.claim_idempotency("web:erp", "key-2", "fp") is None
    await second.release_idempotency("web:erp", "key-2")
    assert await first.claim_idempotency("web:erp", "key-2", "fp") is None
    for replica in replicas:
        await replica.close()
        await replica.link.close()


async def test_idempotency_falls_back_to_the_state_store_without_redis(redis_url, prefix):
    inner = open_state("sqlite:///:memory:")
    down = SharedIdempotency(inner, RedisLink(f"redis://127.0.0.1:{free_port()}/0", prefix=prefix))
    assert await down.claim_idempotency("s", "k", "fp") is None
    await down.complete_idempotency("s", "k", "result")
    # Redis back (another link to a live one): the durable record still wins
    up = SharedIdempotency(inner, RedisLink(redis_url, prefix=prefix))
    again = await up.claim_idempotency("s", "k", "fp-other")
    assert again is not None and again.result == "result"
    await up.close()
    await down.link.close()
    await up.link.close()


async def test_a_gateway_whose_redis_is_down_answers_from_its_own_cache(make_gateway, simulators):
    gateway = await make_gateway(top={"redis_url": f"redis://127.0.0.1:{free_port()}/0"},
                                 cache_ttl=60)
    query = '{ invoices(first: 3, filter: {sources: ["erp"]}) { nodes { number } } }'
    first = await gateway.data(query)
    assert len(first["invoices"]["nodes"]) == 3
    zero_counts(simulators)
    assert await gateway.data(query) == first
    assert sum(request_counts(simulators)["makini"].values()) == 0, "from the local cache"


async def test_fan_out_reaches_the_other_replicas_only(redis_url, prefix):
    replicas = [await ScaleOut.start(redis_url, {}, prefix=prefix) for _ in range(3)]
    received: list[list[dict]] = [[], [], []]
    for replica, inbox in zip(replicas, received, strict=True):
        replica.subscribe("events", inbox.append)
    try:
        await asyncio.sleep(0.3)  # the listeners have subscribed
        event = {"type": "UPDATED", "source": "billing", "remoteId": "42"}
        assert await replicas[0].publish("events", event) is True
        for _ in range(50):
            if received[1] and received[2]:
                break
            await asyncio.sleep(0.05)
        assert received == [[], [event], [event]], "every other replica, not the sender"
        assert await replicas[1].publish("unheard-topic", {"x": 1}) is True
    finally:
        for replica in replicas:
            await replica.close()
    alone = await ScaleOut.start(None, {})
    assert await alone.publish("events", {"x": 1}) is False, "no Redis: nothing carried"
    await alone.close()


async def test_a_claim_of_unknown_outcome_is_taken_over_by_one_replica(redis_url, prefix):
    replicas = [SharedIdempotency(open_state("sqlite:///:memory:"), RedisLink(redis_url, prefix=prefix))
                for _ in range(2)]
    first, second = replicas
    assert await first.claim_idempotency("web:erp", "k", "fp", reference="gw-1", owner="a") is None
    await first.mark_unknown("web:erp", "k", owner="a")
    seen = await second.claim_idempotency("web:erp", "k", "fp", owner="b")
    assert seen is not None and seen.unknown and seen.reference == "gw-1"
    # both replicas reconcile the same moment: Redis lets one take it over
    assert await second.take_over("web:erp", "k", seen, "b", 1e12) is True
    assert await first.take_over("web:erp", "k", seen, "a", 1e12) is False
    held = await first.claim_idempotency("web:erp", "k", "fp")
    assert held is not None and held.owner == "b" and not held.unknown
    for replica in replicas:
        await replica.close()
        await replica.link.close()
