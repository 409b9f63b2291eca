"""Work shared between requests is never cancelled by one of them (gateway.support.shared).

A read several requests wait for (coalesced in flight, started early, the customer list of
a request's lists) used to run inside its first caller: that caller's cancellation reached
the others as a `CancelledError` they did not ask for, an HTTP 500 (issue 18, item 4)."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from gateway.scaleout.replicas import SharedReadCache
from gateway.support.shared import SharedCall, SharedCalls
from gateway.upstream.cache import ReadCache
from tests.conftest import sim_control
from tests.tools import redis_url


async def test_a_cancelled_waiter_stops_only_its_own_waiting() -> None:
    calls: SharedCalls[str, int] = SharedCalls()
    release = asyncio.Event()
    started = 0

    async def work() -> int:
        nonlocal started
        started += 1
        await release.wait()
        return 42

    first = asyncio.ensure_future(calls.run("k", work))
    second = asyncio.ensure_future(calls.run("k", work))
    await asyncio.sleep(0.01)
    first.cancel()
    await asyncio.sleep(0.01)
    release.set()
    assert await second == (42, True)
    assert first.cancelled() and started == 1 and len(calls) == 0


async def test_the_work_is_cancelled_when_its_last_waiter_leaves() -> None:
    calls: SharedCalls[str, int] = SharedCalls()
    ended = asyncio.Event()

    async def work() -> int:
        try:
            await asyncio.sleep(10)
        finally:
            ended.set()
        return 1

    waiters = [asyncio.ensure_future(calls.run("k", work)) for _ in range(3)]
    await asyncio.sleep(0.01)
    for waiter in waiters:
        waiter.cancel()
    await asyncio.wait_for(ended.wait(), 1)
    assert "k" not in calls or calls._calls["k"].abandoned  # a later caller starts afresh
    assert await calls.run("k", lambda: asyncio.sleep(0, result=7)) == (7, False)


async def test_work_cancelled_from_outside_is_started_again_for_its_waiters() -> None:
    calls: SharedCalls[str, str] = SharedCalls()
    runs = 0

    async def work() -> str:
        nonlocal runs
        runs += 1
        if runs == 1:
            await asyncio.sleep(10)
        return "again"

    waiter = asyncio.ensure_future(calls.run("k", work))
    await asyncio.sleep(0.01)
    call = calls._calls["k"]
    call.task.cancel()
    assert await waiter == ("again", False) and runs == 2


async def test_shared_call_reports_the_works_failure_to_every_waiter() -> None:
    async def work() -> None:
        await asyncio.sleep(0.01)
        raise ValueError("upstream said no")

    call = SharedCall(work())
    results = await asyncio.gather(call.wait(), call.wait(), return_exceptions=True)
    assert [type(r) for r in results] == [ValueError, ValueError]


async def test_read_cache_a_cancelled_first_caller_does_not_fail_the_others() -> None:
    cache = ReadCache(0, 10)
    release = asyncio.Event()

    async def fetch() -> str:
        await release.wait()
        return "page"

    first = asyncio.ensure_future(cache.get_or_fetch("k", fetch))
    others = [asyncio.ensure_future(cache.get_or_fetch("k", fetch)) for _ in range(3)]
    await asyncio.sleep(0.01)
    first.cancel()
    await asyncio.sleep(0)
    release.set()
    served = await asyncio.gather(*others)
    assert [s.value for s in served] == ["page"] * 3 and cache.misses == 1


# --- through the gateway -------------------------------------------------------------------

WITH_CUSTOMERS = """query($first: Int!, $sources: [String!]) {
  invoices(first: $first, filter: {sources: $sources}) {
    nodes { id number total { amount currency } customer { name phone } } } }"""
EMBEDDED = """query($first: Int!) { invoices(first: $first, filter: {sources: ["billing"]}) {
  nodes { id number customer { name email } } } }"""
QUERIES: list[tuple[str, dict[str, Any]]] = [
    (WITH_CUSTOMERS, {"first": 10, "sources": ["billing"]}),
    (WITH_CUSTOMERS, {"first": 25, "sources": ["billing"]}),
    (WITH_CUSTOMERS, {"first": 5, "sources": ["billing", "cloud"]}),
    (EMBEDDED, {"first": 20}),
    (EMBEDDED, {"first": 50}),
]


@pytest.mark.parametrize("cache_ttl", [0, 5])
async def test_concurrent_clients_some_abandoning_never_see_a_5xx(
    make_gateway: Any, simulators: Any, cache_ttl: float
) -> None:
    """Many clients at once, identical and distinct queries, early reads on; a third of the
    requests are abandoned part way (a client-side timeout cancels the request). Every
    request that is not abandoned answers 200 with exactly a lone client's answer."""
    gateway = await make_gateway(cache_ttl=cache_ttl, top={"early_reads": True})
    await storm([gateway], simulators)


async def test_replicas_sharing_redis_some_abandoning_never_see_a_5xx(
    make_gateway: Any, simulators: Any
) -> None:
    """The same across two replicas sharing a read cache in Redis, where a replica's read
    may wait for the other's fetch of the same URL (a Redis wait inside the shared read)."""
    top = {"early_reads": True, "redis_url": redis_url()}
    replicas = [await make_gateway(cache_ttl=5, top=top) for _ in range(2)]
    for replica in replicas:
        assert isinstance(replica.app.state.adapters["billing"].client.cache, SharedReadCache)
    await storm(replicas, simulators)


async def storm(gateways: list[Any], simulators: Any) -> None:
    expected = []
    for query, variables in QUERIES:
        expected.append(await gateways[0].data(query, variables))
    # Upstream latency keeps reads in flight (and shared) for most of a request's life.
    for kind in ("invoicematic", "cloudbilling"):
        sim_control(simulators.running[kind], "PUT", "/_sim/latency", {"ms": 30})
    rng = random.Random(18)
    # Abandon requests at any moment of a round: spread over the time a round takes.
    started = asyncio.get_running_loop().time()
    await asyncio.gather(*(gateways[0].data(query, variables)
                           for query, variables in QUERIES * 8))
    spread = asyncio.get_running_loop().time() - started
    failures: list[str] = []
    abandoned = 0

    async def client(index: int) -> None:
        nonlocal abandoned
        which = index % len(QUERIES) if index % 3 else 0  # a third all the same query
        query, variables = QUERIES[which]
        await asyncio.sleep(rng.uniform(0, 0.06))  # arrivals spread: any of them may lead
        gateway = gateways[index % len(gateways)]
        send = gateway.http.post("/graphql", json={"query": query, "variables": variables})
        if rng.random() < 0.33:
            try:
                await asyncio.wait_for(send, rng.uniform(0.001, spread))
            except TimeoutError:
                abandoned += 1
            return
        try:
            response = await send
        except asyncio.CancelledError:
            failures.append(f"request {index}: CancelledError escaped (an HTTP 500)")
            return
        if response.status_code != 200:
            failures.append(f"request {index}: HTTP {response.status_code} {response.text}")
        elif response.json() != {"data": expected[which]}:
            failures.append(f"request {index}: {response.text[:300]}")

    for _ in range(8):
        for gateway in gateways:  # every round starts cold: reads are fetched and shared
            for adapter in gateway.app.state.adapters.values():
                adapter.client.cache.clear()
        await asyncio.sleep(0.05)  # (a shared cache's drop reaches Redis in the background)
        await asyncio.gather(*(client(index) for index in range(60)))
    assert not failures, failures[:5]
    assert abandoned > 0
