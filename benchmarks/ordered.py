"""Ordered-list benchmark: the first page of an ordered list against reading the sources in
full, over four simulators of N invoices each (issue 21).

Query A is the finance screen: `invoices(first: 50, orderBy: [{field: DUE_DATE}],
filter: {overdue: true})`. Query B orders without that filter (`orderBy: DUE_DATE`,
first 50), so the sources that cannot sort are read in full. The baseline reads every
invoice of every source, unordered, 500 at a time (what a client does to sort by itself).
Each is run cold (a fresh gateway, empty read cache) and warm (the same query again on it),
and reported as upstream calls per query (from the simulators' own counters) and time as a
ratio against the baseline measured in the same run.

The simulators run in a thread of this process (`BackgroundSimulators`), so they share the
interpreter with the gateway: times are for comparison within one run, not absolute
figures, and mean little on a busy machine (the load average is printed with them).

    python -m benchmarks.ordered [--invoices 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack, contextmanager

import httpx

from gateway.app import create_app
from gateway.config import parse_config
from gateway.simulators.runner import BackgroundSimulators, SimulatorGroup

ORDERED_OVERDUE = """{ invoices(first: 50, orderBy: [{field: DUE_DATE}], filter: {overdue: true})
  { nodes { id source number dueDate } pageInfo { hasNextPage endCursor } } }"""
ORDERED = """{ invoices(first: 50, orderBy: [{field: DUE_DATE}])
  { nodes { id source number dueDate } pageInfo { hasNextPage endCursor } } }"""
FULL_PAGE = """query($after: String) { invoices(first: 500, after: $after)
  { nodes { id source number dueDate isOverdue } pageInfo { hasNextPage endCursor } } }"""
SCENARIOS = {
    "A: first 50, DUE_DATE, overdue": ORDERED_OVERDUE,
    "B: first 50, DUE_DATE": ORDERED,
    "baseline: every invoice, unordered": None,
}


def upstream_calls(group: SimulatorGroup) -> int:
    total = 0
    for running in group.running.values():
        total += httpx.get(running.url + "/_sim/requests", timeout=10).json()["total"]
        httpx.delete(running.url + "/_sim/requests", timeout=10)
    return total


@contextmanager
def counting(group: SimulatorGroup, into: list[int]) -> Iterator[None]:
    upstream_calls(group)  # zero the counters
    yield
    into.append(upstream_calls(group))


async def run_query(http: httpx.AsyncClient, query: str | None) -> int:
    """One query (or, for the baseline, paging to the end); the invoices received."""
    if query is not None:
        body = (await http.post("/graphql", json={"query": query})).json()
        assert not body.get("errors"), body["errors"]
        return len(body["data"]["invoices"]["nodes"])
    received, after = 0, None
    while True:
        body = (await http.post("/graphql", json={"query": FULL_PAGE,
                                                   "variables": {"after": after}})).json()
        assert not body.get("errors"), body["errors"]
        received += len(body["data"]["invoices"]["nodes"])
        info = body["data"]["invoices"]["pageInfo"]
        if not info["hasNextPage"]:
            return received
        after = info["endCursor"]


async def one_round(
    group: SimulatorGroup, makershub_ids: list[int],
    results: dict[tuple[str, str], list[tuple[float, int]]], cache_size: int,
) -> None:
    for label, query in SCENARIOS.items():
        # The read cache holds every record of a source read in full (MakersHub: one entry
        # per invoice), else a warm read is as cold as the first (default size 2,048).
        blocks = [{**running.source_block(), "cache_ttl": 900, "timeout": 60,
                   "cache_size": cache_size}
                  for running in group.running.values()]
        # State in memory, per gateway. A cold read of a MakersHub source of 10,000 is
        # 10,000 GETs: on a busy machine more than the default 30 s request deadline.
        config = parse_config({"sources": blocks, "request_timeout": 600}, {})
        app = create_app(config)
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(app.router.lifespan_context(app))
            http = await stack.enter_async_context(httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://gw", timeout=600))
            await app.state.store.index_add("ap", makershub_ids)  # MakersHub's index
            for temperature in ("cold", "warm"):
                calls: list[int] = []
                with counting(group, calls):
                    started = time.perf_counter()
                    received = await run_query(http, query)
                    elapsed = time.perf_counter() - started
                results.setdefault((label, temperature), []).append((elapsed, calls[0]))
                print(f"  {label:<36} {temperature}: {elapsed:7.3f} s, {calls[0]:6d} "
                      f"upstream calls, {received} invoices", flush=True)


def report(results: dict[tuple[str, str], list[tuple[float, int]]], invoices: int,
           rounds: int, load: Callable[[], str]) -> None:
    print(f"\n4 sources x {invoices} invoices; medians of {rounds} rounds; load {load()}")
    print(f"{'query':<38}{'cache':<7}{'calls':>8}{'seconds':>10}{'vs baseline':>13}")
    for temperature in ("cold", "warm"):
        base = statistics.median(t for t, _ in results[(list(SCENARIOS)[-1], temperature)])
        for label in SCENARIOS:
            runs = results[(label, temperature)]
            seconds = statistics.median(t for t, _ in runs)
            calls = statistics.median(c for _, c in runs)
            print(f"{label:<38}{temperature:<7}{calls:>8.0f}{seconds:>10.3f}"
                  f"{seconds / base:>12.3f}x")


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


async def run(invoices: int, rounds: int) -> None:
    background = BackgroundSimulators(seed=7, invoices=invoices)
    group = background.start()
    try:
        makershub = group.running["makershub"].simulator
        ids = [int(remote_id) for remote_id in makershub.remote_ids("invoices")]
        results: dict[tuple[str, str], list[tuple[float, int]]] = {}
        for number in range(rounds):
            print(f"round {number + 1} (load {load_average()})", flush=True)
            await one_round(group, ids, results, cache_size=invoices + 1024)
        report(results, invoices, rounds, load_average)
    finally:
        background.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--invoices", type=int, default=10_000, help="invoices per source")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (medians reported)")
    args = parser.parse_args()
    asyncio.run(run(args.invoices, args.rounds))


if __name__ == "__main__":
    main()
