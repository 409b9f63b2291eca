"""CPU per query: the gateway's own processing cost, steady on a busy machine.

Throughput on a shared machine swings with the neighbours' load; the CPU time the gateway
spends per query does much less. This runs the gateway in this process (through its ASGI
app, no socket) against the simulators in another process, runs each scenario sequentially
and reports process CPU milliseconds per query: the figure each performance lever is
measured by before and after (`--profile` prints where the time goes).

    python -m benchmarks.cpu [--queries 200] [--profile peer-cached]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import time
from contextlib import AsyncExitStack
from typing import Any

import httpx

from benchmarks import varied
from benchmarks.peer import BIG_QUERY, PEER_QUERY
from benchmarks.peer_processes import Simulators
from gateway.app import create_app
from gateway.config import parse_config

SCENARIOS: dict[str, tuple[str, int]] = {
    # name: (query, cache_ttl)
    "peer-cold": (PEER_QUERY, 0),
    "peer-cached": (PEER_QUERY, 5),
    "big-cached": (BIG_QUERY, 60),
    # The peer benchmark's varied mode: its 40 distinct pages in turn, read cache off.
    "varied-cold": (varied.OUR_PAGE, 0),
}


async def cpu_per_query(sims: Simulators, scenario: str, queries: int,
                        profile: bool) -> list[float]:
    query, ttl = SCENARIOS[scenario]
    block = {"name": "billing", "kind": "invoicematic", "base_url": sims.base_url,
             "token": sims.token, "cache_ttl": ttl}
    app = create_app(parse_config({"sources": [block]}, {}))
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))
        http = await stack.enter_async_context(httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gw", timeout=60))

        async def ask(text: str, variables: dict[str, Any]) -> dict[str, Any]:
            reply: dict[str, Any] = (await http.post(
                "/graphql", json={"query": text, "variables": variables})).json()
            assert "errors" not in reply, reply["errors"]
            return reply

        payloads: list[dict[str, Any]] = [{"query": query, "variables": {}}]
        if scenario == "varied-cold":
            # `varied.cursors` asks synchronously: from a thread, through this loop.
            loop = asyncio.get_running_loop()
            found = await asyncio.to_thread(varied.cursors, lambda text, variables: (
                asyncio.run_coroutine_threadsafe(ask(text, variables), loop).result()))
            payloads = varied.our_payloads(varied.pages(), found)
        turn = iter(range(1 << 62))

        async def one() -> None:
            payload = payloads[next(turn) % len(payloads)]
            await ask(payload["query"], payload["variables"])

        for _ in range(3):
            await one()  # warm-up (and, cached scenarios, fill the cache)
        profiler = cProfile.Profile() if profile else None
        samples = []
        for _ in range(5):
            if profiler:
                profiler.enable()
            started = time.process_time()
            for _ in range(max(queries // 5, 1)):
                await one()
            samples.append((time.process_time() - started) * 1000 / max(queries // 5, 1))
            if profiler:
                profiler.disable()
        if profiler:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
        return samples


async def run(queries: int, profile: str | None) -> None:
    with Simulators.start() as sims:
        if profile in (None, "big-cached", "varied-cold"):
            sims.grow_invoices(varied.INVOICES if profile != "big-cached" else 500)
        for scenario in SCENARIOS:
            if profile and scenario != profile:
                continue
            count = queries if not scenario.startswith("big") else max(queries // 20, 5)
            samples = await cpu_per_query(sims, scenario, count, profile is not None)
            print(f"{scenario:<14} CPU {statistics.median(samples):7.2f} ms/query "
                  f"(median of 5 batches; min {min(samples):.2f})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=200, help="queries per scenario")
    parser.add_argument("--profile", choices=list(SCENARIOS), help="profile one scenario")
    args = parser.parse_args()
    asyncio.run(run(args.queries, args.profile))


if __name__ == "__main__":
    main()
