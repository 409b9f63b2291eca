"""Peer benchmark: invoice-gateway against Hive Gateway on the same work, in the same run.

Serves the project's Invoicematic simulator (5 ms injected latency) through Hive Gateway
(OpenAPI source, request-deduplication plugin, one process) and through invoice-gateway
(`invoice-gateway serve`, one process, read cache off and on), checks that both answer the
same data for "50 invoices with their customers", then measures them in alternating rounds
with wrk and prints medians and ratios: `--mode repeated` asks that one query over and over,
`--mode varied` asks 40 distinct pages (10, 25 and 50 invoices with their customers) over
1,000 invoices in turn (`benchmarks.varied`), `--mode both` (the default) does both. Any
failed response (non-2xx, socket error, GraphQL errors) in any round stops the benchmark
with a non-zero exit. Then, on invoice-gateway alone: the big-page
scenario (1,000 invoices with line items and customers as two pages of 500, warm cache),
the latency bound (20 ms upstream latency, cold query p50 against its critical path) and,
with `--workers N`, the multi-process figures.

    python -m benchmarks.peer [--mode both|repeated|varied] [--seconds 5] [--rounds 3]
                              [--clients 10] [--workers 2]

Every run is bounded (wrk duration, request counts) and talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from benchmarks import peer_setup, varied
from benchmarks.loadgen import Load, run_wrk
from benchmarks.peer_processes import Processes, Simulators

PEER_QUERY = """{ invoices(first: 50, filter: {sources: ["billing"]}) { nodes {
  remoteId number total { amount currency } customer { remoteId name email } } } }"""
HIVE_QUERY = """{ listInvoices(limit: "50", page: 1, orderByField: "id", orderBy: asc) { data {
  id invoice_number total currency_id customer { data { id name email } } } } }"""
BIG_QUERY = """query($after: String) {
  invoices(first: 500, after: $after, filter: {sources: ["billing"]}) {
    pageInfo { hasNextPage endCursor }
    nodes { id number status issueDate dueDate total { amount currency } amountDue { amount }
      customer { id name email }
      lineItems { description quantity unitPrice { amount } total { amount } } } } }"""
CURRENCIES = {1: "USD", 2: "GBP", 3: "EUR"}  # docs/upstreams/invoicematic.md (assumed table)
BIG_INVOICES = 1000


@dataclass
class Target:
    label: str
    url: str
    payload: dict[str, Any] | list[dict[str, Any]]
    loads: list[Load]
    calls: list[float]


def same_data(ours: dict[str, Any], hive: dict[str, Any], count: int = 50,
              quiet: bool = False) -> None:
    """Both gateways answer the same `count` invoices with the same customers, or
    SystemExit."""

    def from_ours(node: dict[str, Any]) -> tuple[str, ...]:
        customer = node["customer"]
        return (node["remoteId"], node["number"], node["total"]["amount"],
                node["total"]["currency"], customer["remoteId"], customer["name"],
                customer["email"])

    def from_hive(row: dict[str, Any]) -> tuple[str, ...]:
        customer = row["customer"]["data"]
        total = f"{Decimal(row['total']) / 100:.2f}"
        return (str(row["id"]), row["invoice_number"], total, CURRENCIES[row["currency_id"]],
                str(customer["id"]), customer["name"], customer["email"])

    if "errors" in ours or "errors" in hive:
        raise SystemExit(f"a gateway answered errors: {ours.get('errors') or hive.get('errors')}")
    mine = [from_ours(node) for node in ours["data"]["invoices"]["nodes"]]
    theirs = [from_hive(row) for row in hive["data"]["listInvoices"]["data"]]
    if mine != theirs or len(mine) != count:
        diff = next((pair for pair in zip(mine, theirs, strict=False) if pair[0] != pair[1]),
                    (len(mine), len(theirs)))
        raise SystemExit(f"the gateways disagree: {diff}")
    if not quiet:
        print(f"check: both gateways answer the same {len(mine)} invoices and customers",
              flush=True)


def measure(target: Target, sims: Simulators, wrk: str, seconds: float, clients: int) -> None:
    sims.zero_counts()
    load = run_wrk(wrk, target.url, target.payload, seconds=seconds, clients=clients)
    calls = sims.count() / max(load.requests, 1)
    if load.errors:
        raise SystemExit(f"{target.label}: {load.errors} failed requests under load"
                         + (f"; the first: {load.failed_sample}" if load.failed_sample else ""))
    target.loads.append(load)
    target.calls.append(calls)
    print(f"  {target.label:<34}{load.requests_per_second:8.1f} req/s  p50 {load.p50_ms:6.1f} ms"
          f"  p99 {load.p99_ms:6.1f} ms  {calls:5.2f} calls/query", flush=True)


WHAT = {
    "repeated": "50 invoices with their customers (one query, repeated)",
    "varied": f"{varied.PAGES} distinct pages of 10, 25 and 50 invoices with their customers "
              f"over {varied.INVOICES:,} invoices",
}


def report(targets: list[Target], rounds: int, clients: int, latency_ms: int,
           mode: str = "repeated") -> None:
    hive = targets[0]
    print(f"\n{WHAT[mode]}; {clients} clients; {latency_ms} ms upstream "
          f"latency; medians of {rounds} alternating rounds")
    print(f"{'gateway':<36}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'calls/q':>9}"
          f"{'vs Hive':>9}")
    for target in targets:
        rates = [load.requests_per_second for load in target.loads]
        ratios = [mine.requests_per_second / peer.requests_per_second
                  for mine, peer in zip(target.loads, hive.loads, strict=True)]
        print(f"{target.label:<36}{statistics.median(rates):8.1f}"
              f"{statistics.median(load.p50_ms for load in target.loads):9.1f}"
              f"{statistics.median(load.p99_ms for load in target.loads):9.1f}"
              f"{statistics.median(target.calls):9.2f}{statistics.median(ratios):8.2f}x")


def varied_payloads(procs: Processes) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The varied mode's payloads for invoice-gateway and for Hive, after checking that
    both answer every page alike."""
    specs = varied.pages()
    url = procs.gateway_url("off")
    ours = varied.our_payloads(specs, varied.cursors(
        lambda text, variables: procs.query(url, text, variables)))
    hive = varied.hive_payloads(specs)
    for spec, mine, theirs in zip(specs, ours, hive, strict=True):
        same_data(procs.query(url, mine["query"], mine["variables"]),
                  procs.query(procs.hive_url, theirs["query"]), spec.size, quiet=True)
    print(f"check: both gateways answer the same invoices and customers on all {len(specs)} "
          "pages", flush=True)
    return ours, hive


def peer_rounds(procs: Processes, sims: Simulators, wrk: str, args: argparse.Namespace,
                mode: str = "repeated") -> None:
    ours: dict[str, Any] | list[dict[str, Any]] = {"query": PEER_QUERY}
    hive: dict[str, Any] | list[dict[str, Any]] = {"query": HIVE_QUERY}
    if mode == "varied":
        ours, hive = varied_payloads(procs)
    targets = [
        Target("Hive Gateway + dedup", procs.hive_url, hive, [], []),
        Target("invoice-gateway, cache off", procs.gateway_url("off"), ours, [], []),
        Target("invoice-gateway, cache on", procs.gateway_url("on"), ours, [], []),
    ]
    if args.workers > 1:
        for cache in ("off", "on"):
            targets.append(Target(f"invoice-gateway, cache {cache}, {args.workers} workers",
                                  procs.gateway_url(f"{cache}-workers"), ours, [], []))
    for target in targets:  # warm-up: JIT, connection pools, caches
        run_wrk(wrk, target.url, target.payload, seconds=1, clients=args.clients)
    for number in range(args.rounds):
        print(f"round {number + 1}/{args.rounds}", flush=True)
        order = targets if number % 2 == 0 else list(reversed(targets))
        for target in order:
            measure(target, sims, wrk, args.seconds, args.clients)
    # The multi-process rows are measured in the same rounds but compared separately.
    report(targets[:3], args.rounds, args.clients, args.latency, mode)
    if args.workers > 1:
        print(f"\nwith --workers {args.workers} (multi-process; not part of the single-process "
              "ratio above):")
        report([targets[0], *targets[3:]], args.rounds, args.clients, args.latency, mode)


def big_pages(procs: Processes, sims: Simulators, repeats: int) -> None:
    """1,000 invoices with line items and customers as two pages of 500, warm cache."""
    created = sims.grow_invoices(BIG_INVOICES)
    url = procs.gateway_url("on")
    times: list[float] = []
    cpu: list[float] = []
    with httpx.Client(timeout=60) as client:
        for attempt in range(repeats + 1):  # the first pass warms the cache
            started, cpu_started = time.perf_counter(), procs.cpu_seconds("on")
            count, after = 0, None
            for _ in range(2):
                body = client.post(url, json={"query": BIG_QUERY,
                                              "variables": {"after": after}}).json()
                if "errors" in body:
                    raise SystemExit(f"big pages: {body['errors']}")
                connection = body["data"]["invoices"]
                count += len(connection["nodes"])
                after = connection["pageInfo"]["endCursor"]
            elapsed = (time.perf_counter() - started) * 1000
            if count != BIG_INVOICES:
                raise SystemExit(f"big pages: expected {BIG_INVOICES} invoices, got {count}")
            if attempt:
                times.append(elapsed)
                cpu.append((procs.cpu_seconds("on") - cpu_started) * 1000)
    print(f"\nbig pages: {BIG_INVOICES} invoices with line items and customers, 2 pages of 500,"
          f" warm cache ({created} invoices created upstream for it):")
    print(f"  median {statistics.median(times):.0f} ms, best {min(times):.0f} ms, worst "
          f"{max(times):.0f} ms over {repeats} runs (target < 250 ms)")
    print(f"  gateway process CPU for the two pages: median {statistics.median(cpu):.0f} ms, "
          f"best {min(cpu):.0f} ms (the wall time above includes waiting for a core)")


def latency_bound(procs: Processes, sims: Simulators, wrk: str, seconds: float,
                  rounds: int) -> None:
    """Cold query p50 at 20 ms upstream latency, against the round trips it cannot avoid.

    The query's upstream calls (`Simulators.PEER_CALLS`: the invoice page, whose embedded
    customers answer the query's customer fields) are independent and read in parallel, so
    its critical path is those calls made together: each round measures that directly (and
    each call alone, for reference), then the gateway's p50 with one client, so that both
    see the same machine. The ratio is the median of the rounds'."""
    print("\nlatency bound: 20 ms upstream latency, read cache off, one client")
    sims.set_latency(20)
    ratios: list[float] = []
    alone_ratios: list[float] = []
    try:
        for number in range(rounds):
            trips = sims.round_trips_ms(repeats=15)
            floor = sims.parallel_round_trip_ms(repeats=15)
            load = run_wrk(wrk, procs.gateway_url("off"), {"query": PEER_QUERY},
                           seconds=seconds, clients=1)
            ratios.append(load.p50_ms / floor)
            alone_ratios.append(load.p50_ms / max(trips.values()))
            if number == 0:
                for call, ms in trips.items():
                    print(f"  alone:       {call:<40} round trip p50 {ms:6.1f} ms")
            print(f"  round {number + 1}: the calls together (critical path) {floor:.1f} ms; "
                  f"gateway p50 {load.p50_ms:.1f} ms = {ratios[-1]:.2f}x "
                  f"({alone_ratios[-1]:.2f}x the longest call alone)", flush=True)
    finally:
        sims.set_latency(0)
    print(f"  median of {rounds} rounds: {statistics.median(ratios):.2f}x the critical path "
          f"(target <= 1.15x); {statistics.median(alone_ratios):.2f}x the longest call alone")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=("both", "repeated", "varied"), default="both",
                        help="one query repeated, 40 distinct pages, or both (default)")
    parser.add_argument("--seconds", type=float, default=5, help="length of each measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    parser.add_argument("--clients", type=int, default=10, help="concurrent connections")
    parser.add_argument("--latency", type=int, default=5, help="upstream latency in ms")
    parser.add_argument("--workers", type=int, default=0,
                        help="also measure `serve --workers N` (N > 1)")
    parser.add_argument("--big-repeats", type=int, default=7, help="runs of the big-page query")
    parser.add_argument("--latency-rounds", type=int, default=3,
                        help="rounds of the latency-bound measurement")
    parser.add_argument("--skip-peer", action="store_true", help="only the gateway scenarios")
    args = parser.parse_args()
    try:
        wrk = peer_setup.require("wrk", "install it: apt-get install -y wrk")
        if not args.skip_peer:
            peer_setup.install()
    except peer_setup.Missing as exc:
        print(f"benchmarks.peer: missing: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    with ExitStack() as stack:
        sims = stack.enter_context(Simulators.start())
        procs = stack.enter_context(Processes.start(sims, peer=not args.skip_peer,
                                                    workers=args.workers))
        if not args.skip_peer:
            versions = ", ".join(f"{k} {v}" for k, v in peer_setup.installed_versions().items())
            print(f"peer: {versions}")
            same_data(procs.query(procs.gateway_url("off"), PEER_QUERY),
                      procs.query(procs.hive_url, HIVE_QUERY))
            modes = ("repeated", "varied") if args.mode == "both" else (args.mode,)
            if "varied" in modes:
                sims.grow_invoices(varied.INVOICES)
            sims.set_latency(args.latency)
            for mode in modes:
                peer_rounds(procs, sims, wrk, args, mode)
            sims.set_latency(0)
        latency_bound(procs, sims, wrk, args.seconds, args.latency_rounds)
        big_pages(procs, sims, args.big_repeats)


if __name__ == "__main__":
    main()
