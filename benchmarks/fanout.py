"""Fan-out benchmark: the N+1-shaped 50-invoice query under concurrent clients.

Simulators run in a separate process (`invoice-gateway simulate`); the gateway runs here, in
process, with its read cache off so that every query fans out to the upstreams. Each
configuration is measured in alternating rounds in the same run, and results are reported
as ratios against the baseline (httpx's default transport), because these machines are
noisy and absolute figures mean little.

    python -m benchmarks.fanout [--seconds 4] [--clients 10] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from contextlib import AsyncExitStack
from typing import Any

import httpx

from benchmarks.httpx_wire import HttpxWire
from gateway.app import create_app
from gateway.config import parse_config
from gateway.registry import KINDS
from gateway.upstream.wire import AiohttpWire, WireFactory

DEMO_NAMES = KINDS.demo_names()  # kind -> its source's name in the demo

LIST_QUERY = """query { invoices(first: 50, filter: {sources: ["billing", "cloud"]}) { nodes {
  id number total { amount currency } amountDue { amount } customer { id name email }
  vendor { id name } payments { id amount { amount } } lineItems { description total { amount } }
} } }"""
# 50 invoices by id: no upstream reads many ids at once, so this is 50 concurrent GETs
BY_ID_QUERY = """query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Invoice { number
  total { amount } lineItems { total { amount } } } } }"""


def start_simulators() -> tuple[subprocess.Popen[str], list[dict[str, Any]]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli.main", "simulate", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    assert process.stdout is not None
    blocks = []
    for _ in DEMO_NAMES:
        line = process.stdout.readline()
        kind, base_url, *pairs = line.split()
        extra = dict(pair.split("=", 1) for pair in pairs)
        block = {"name": DEMO_NAMES[kind], "kind": kind, "base_url": base_url,
                 "token": extra["token"], "cache_ttl": 0}
        if "tenant_slug" in extra:
            block["tenant_slug"] = extra["tenant_slug"]
        blocks.append(block)
    return process, blocks


async def measure(blocks: list[dict[str, Any]], transport: str, scenario: str,
                  seconds: float, clients: int) -> float:
    config = parse_config({"sources": blocks}, {})
    app = create_app(config, wire=WIRES[transport])
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))
        http = await stack.enter_async_context(httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gw", timeout=60))
        response = await http.post("/graphql", json={"query": LIST_QUERY})  # warm-up + check
        body = response.json()
        assert not body.get("errors") and len(body["data"]["invoices"]["nodes"]) == 50, body
        payload: dict[str, Any] = {"query": LIST_QUERY}
        if scenario == "by-id":
            ids = [node["id"] for node in body["data"]["invoices"]["nodes"]]
            payload = {"query": BY_ID_QUERY, "variables": {"ids": ids}}
        done = 0
        deadline = time.perf_counter() + seconds

        async def client() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                reply = await http.post("/graphql", json=payload)
                assert reply.status_code == 200 and "errors" not in reply.json()
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        return done / (time.perf_counter() - started)


async def run(seconds: float, clients: int, rounds: int) -> None:
    process, blocks = start_simulators()
    try:
        results: dict[tuple[str, str], list[float]] = {}
        for round_number in range(rounds):
            for scenario in SCENARIOS:
                for transport in TRANSPORTS:
                    rate = await measure(blocks, transport, scenario, seconds, clients)
                    results.setdefault((scenario, transport), []).append(rate)
                    print(f"round {round_number + 1}: {scenario:<6} {transport:<8} "
                          f"{rate:7.1f} queries/s", flush=True)
    finally:
        process.terminate()
        process.wait(timeout=10)
    print(f"\n{clients} concurrent clients, read cache off; medians of {rounds} rounds")
    print(f"{'scenario':<34}{'transport':<10}{'q/s':>8}{'vs baseline':>13}")
    for scenario, label in SCENARIOS.items():
        baseline = statistics.median(results[(scenario, "httpx")])
        for transport in TRANSPORTS:
            median = statistics.median(results[(scenario, transport)])
            print(f"{label:<34}{transport:<10}{median:>8.1f}{median / baseline:>12.2f}x")


SCENARIOS = {
    "list": "50 invoices + relations (list)",
    "by-id": "50 invoices by id (50 GETs)",
}
WIRES: dict[str, WireFactory] = {"httpx": HttpxWire, "aiohttp": AiohttpWire}
TRANSPORTS = tuple(WIRES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each round")
    parser.add_argument("--clients", type=int, default=10, help="concurrent GraphQL clients")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per transport")
    args = parser.parse_args()
    asyncio.run(run(args.seconds, args.clients, args.rounds))


if __name__ == "__main__":
    main()
