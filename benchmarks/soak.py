"""Soak: a long mixed load on one gateway process, with faults injected, and what it leaks.

The four simulators run in this process (real HTTP on 127.0.0.1, sending signed webhooks to
the gateway); the gateway runs as its own process (`invoice-gateway serve`, default
settings, SQLite state) so that its memory is its own. For `--minutes` (default 30):

- `--readers` clients loop over a mix of reads (lists of every source, pages with and without
  customers, lines, one invoice by id);
- `--writers` clients create invoices on Invoicematic and Cloud Billing with an
  `idempotencyKey` each, retrying the same key after any failure until it is acknowledged;
- `--subscriptions` WebSockets stay subscribed to `invoiceEvents` throughout;
- every `--fault-every` seconds one simulator gets a fault for `--fault-seconds` (503s,
  dropped connections, malformed replies, 429s: a share of its requests, seeded).

It prints the requests made, the non-200 answers, answers carrying GraphQL errors (expected
while a source is failing: they name it), acknowledged writes against the records the
upstreams hold with the run's numbers (a duplicate shows as more records than writes),
events received by each subscription against the events seen by any, and the gateway's RSS at
the start (after a warm-up), every `--report-every` seconds and at the end.

    python -m benchmarks.soak [--minutes 30] [--report-every 300]

Not a timed test: `tests/test_soak.py` runs it for a few seconds to keep it working.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import websockets
import yaml
from websockets.typing import Subprotocol

from benchmarks.peer_processes import _stop, free_port
from gateway.simulators.runner import BackgroundSimulators, SimulatorGroup

READS = [
    ('{ invoices(first: 20) { nodes { id number total { amount currency } } } }', {}),
    ('query($s: [String!]) { invoices(first: 25, filter: {sources: $s}) { nodes { number '
     'customer { name email } } } }', {"s": ["billing"]}),
    ('query($s: [String!]) { invoices(first: 10, filter: {sources: $s}) { nodes { number '
     'customer { name phone } lineItems { description total { amount } } } } }',
     {"s": ["cloud"]}),
    ('{ customers(first: 30) { nodes { id name } } }', {}),
    ('query($s: [String!]) { invoices(first: 50, filter: {sources: $s}) { pageInfo { '
     'endCursor } nodes { number status } } }', {"s": ["erp", "ap"]}),
]
FAULTS = ["503", "drop", "malformed", "429"]
WRITE_SOURCES = {"billing": "invoicematic", "cloud": "cloudbilling"}
CREATE = """mutation($input: CreateInvoiceInput!) { createInvoice(input: $input) {
  invoice { id remoteId number } userErrors { field message code } } }"""
SUBSCRIBE = "subscription { invoiceEvents { id type source remoteId origin } }"


@dataclass
class Tally:
    requests: int = 0
    non_200: int = 0
    with_errors: int = 0
    acknowledged: dict[str, set[str]] = field(default_factory=dict)  # source -> numbers
    write_attempts: int = 0
    events: list[set[str]] = field(default_factory=list)  # per subscription: event ids
    rss_kb: list[tuple[float, int]] = field(default_factory=list)  # (seconds, kB)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@contextmanager
def gateway_process(group: SimulatorGroup, folder: Path) -> Iterator[tuple[str, int]]:
    blocks = group.source_blocks()
    config = folder / "soak.yaml"
    config.write_text(yaml.safe_dump({"state": f"sqlite:///{folder}/soak.sqlite3",
                                      "sources": blocks}))
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli.main", "serve", "--config", str(config), "--port",
         str(port), "--log-level", "warning"], stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit("soak: the gateway did not start")
            time.sleep(0.2)
        for block in blocks:
            if "webhook_secret" in block:
                running = next(r for r in group.running.values()
                               if r.source_block()["name"] == block["name"])
                httpx.put(running.url + "/_sim/webhook", json={
                    "url": f"{base}/webhooks/{block['name']}",
                    "secret": block["webhook_secret"]}, timeout=5).raise_for_status()
        yield base, process.pid
    finally:
        _stop(process)


async def post(session: aiohttp.ClientSession, url: str, query: str,
               variables: dict[str, Any], tally: Tally) -> dict[str, Any] | None:
    tally.requests += 1
    try:
        async with session.post(url, json={"query": query, "variables": variables}) as reply:
            text = await reply.read()
            status = reply.status
    except (aiohttp.ClientError, TimeoutError):
        tally.non_200 += 1
        return None
    if status != 200:
        tally.non_200 += 1
        print(f"  non-200: HTTP {status} {text[:200]!r}", flush=True)
        return None
    body: dict[str, Any] = json.loads(text)
    if body.get("errors"):
        tally.with_errors += 1
    return body


async def reader(session: aiohttp.ClientSession, url: str, end: float, tally: Tally,
                 rng: random.Random) -> None:
    while time.monotonic() < end:
        query, variables = rng.choice(READS)
        await post(session, url, query, variables, tally)


async def writer(session: aiohttp.ClientSession, url: str, end: float, tally: Tally,
                 run: str, number: int, customers: dict[str, str]) -> None:
    count = 0
    while time.monotonic() < end:
        source = list(WRITE_SOURCES)[count % len(WRITE_SOURCES)]
        invoice_number = f"SOAK{run}-{number}-{count}"
        count += 1
        payload = {"source": source, "customerId": customers[source], "number": invoice_number,
                   "issueDate": "2026-11-02", "dueDate": "2026-12-02",
                   "idempotencyKey": f"soak-{run}-{number}-{count}",
                   "lineItems": [{"description": "Soak", "quantity": "1",
                                  "unitPrice": "10.00"}]}
        if source == "cloud":
            payload |= {"status": "DRAFT", "currency": "EUR"}
        for attempt in range(30):  # the same key until it is acknowledged
            tally.write_attempts += 1
            body = await post(session, url, CREATE, {"input": payload}, tally)
            data = (body or {}).get("data") or {}
            created = data.get("createInvoice") or {}
            if created.get("invoice"):
                tally.acknowledged.setdefault(source, set()).add(invoice_number)
                break
            if created.get("userErrors"):
                print(f"  write refused: {created['userErrors']}", flush=True)
                break
            await asyncio.sleep(min(0.2 * 2 ** attempt, 5))


async def subscriber(url: str, seen: set[str], ready: asyncio.Event, end: float) -> None:
    async with websockets.connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        await ws.recv()
        await ws.send(json.dumps({"id": "1", "type": "subscribe",
                                  "payload": {"query": SUBSCRIBE}}))
        ready.set()
        while time.monotonic() < end:
            try:
                frame = await asyncio.wait_for(ws.recv(), 1)
            except TimeoutError:
                continue
            message = json.loads(frame)
            if message.get("type") == "next":
                seen.add(message["payload"]["data"]["invoiceEvents"]["id"])


async def faults(group: SimulatorGroup, every: float, seconds: float, end: float,
                 rng: random.Random) -> int:
    injected = 0
    async with aiohttp.ClientSession() as session:
        while time.monotonic() + every < end:
            await asyncio.sleep(every)
            running = rng.choice(list(group.running.values()))
            mode = rng.choice(FAULTS)
            fault = {"mode": mode, "times": 1000, "rate": 0.3}
            if mode == "429":
                fault["retry_after"] = 1
            async with session.post(running.url + "/_sim/faults", json=fault) as reply:
                reply.raise_for_status()
            injected += 1
            await asyncio.sleep(seconds)
            async with session.delete(running.url + "/_sim/faults") as reply:
                reply.raise_for_status()
    return injected


def upstream_records(group: SimulatorGroup, prefix: str) -> dict[str, int]:
    """Records with the run's invoice numbers, as the upstreams hold them."""
    invoicematic: Any = group.running["invoicematic"].simulator
    cloud: Any = group.running["cloudbilling"].simulator
    return {
        "billing": sum(1 for record in invoicematic.store.invoices.values()
                       if str(record.get("invoice_number", "")).startswith(prefix)),
        "cloud": sum(1 for tenant in cloud.tenants.values()
                     for record in tenant.invoices.values()
                     if str(record.get("number", "")).startswith(prefix)),
    }


async def soak(group: SimulatorGroup, base: str, pid: int,
               args: argparse.Namespace) -> tuple[Tally, dict[str, int]]:
    url = base + "/graphql"
    run = uuid.uuid4().hex[:6].upper()
    tally = Tally()
    rng = random.Random(18)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        customers = {}
        for source in WRITE_SOURCES:
            body = await post(session, url, "query($s: [String!]) { customers(first: 1, "
                              "sources: $s) { nodes { id } } }", {"s": [source]}, Tally())
            customers[source] = (body or {})["data"]["customers"]["nodes"][0]["id"]
        for query, variables in READS:  # warm-up, then the first RSS figure
            await post(session, url, query, variables, Tally())
        started = time.monotonic()
        end = started + args.minutes * 60
        tally.rss_kb.append((0.0, rss_kb(pid)))
        print(f"soak {run}: {args.minutes:g} min, {args.readers} readers, {args.writers} "
              f"writers, {args.subscriptions} subscriptions; RSS at start "
              f"{tally.rss_kb[0][1] / 1024:.1f} MB", flush=True)
        tally.events = [set() for _ in range(args.subscriptions)]
        ready = [asyncio.Event() for _ in tally.events]
        ws_url = base.replace("http", "ws", 1) + "/graphql"
        listening = [asyncio.ensure_future(subscriber(ws_url, seen, flag, end + 5))
                     for seen, flag in zip(tally.events, ready, strict=True)]
        await asyncio.wait_for(asyncio.gather(*(flag.wait() for flag in ready)), 30)
        await asyncio.sleep(0.5)

        async def report() -> None:
            while True:
                await asyncio.sleep(args.report_every)
                tally.rss_kb.append((time.monotonic() - started, rss_kb(pid)))
                print(f"  {tally.rss_kb[-1][0] / 60:5.1f} min: RSS "
                      f"{tally.rss_kb[-1][1] / 1024:.1f} MB, {tally.requests} requests, "
                      f"{tally.non_200} non-200", flush=True)

        reporting = asyncio.ensure_future(report())
        work = [reader(session, url, end, tally, random.Random(n)) for n in range(args.readers)]
        work += [writer(session, url, end, tally, run, n, customers)
                 for n in range(args.writers)]
        injecting = asyncio.ensure_future(
            faults(group, args.fault_every, args.fault_seconds, end, rng))
        await asyncio.gather(*work)
        injected = await injecting
        reporting.cancel()
        await asyncio.sleep(3)  # the last events in flight
        tally.rss_kb.append((time.monotonic() - started, rss_kb(pid)))
        for task in listening:
            task.cancel()
        await asyncio.gather(*listening, return_exceptions=True)
    records = upstream_records(group, f"SOAK{run}-")
    print_report(tally, records, injected)
    return tally, records


def print_report(tally: Tally, records: dict[str, int], injected: int) -> None:
    acknowledged = {source: len(tally.acknowledged.get(source, ())) for source in records}
    union: set[str] = set().union(*tally.events) if tally.events else set()
    received = [len(seen) for seen in tally.events]
    print(f"requests {tally.requests}, non-200 {tally.non_200}, answers with GraphQL errors "
          f"{tally.with_errors} (faults injected: {injected})")
    print(f"writes acknowledged {acknowledged} in {tally.write_attempts} attempts; upstream "
          f"records {records}")
    print(f"events: {len(union)} published and seen; received per subscription min "
          f"{min(received, default=0)}, max {max(received, default=0)}")
    trail = ", ".join(f"{seconds / 60:.1f} min {kb / 1024:.1f} MB" for seconds, kb in tally.rss_kb)
    print(f"RSS: {trail}")
    # Growth after warming up: from the first figure at 5 minutes or later (in a shorter
    # run, the first figure after the start).
    marks = tally.rss_kb[1:-1] or tally.rss_kb[:1]
    at, after_warm = next(((seconds, kb) for seconds, kb in marks if seconds >= 300), marks[0])
    growth = (tally.rss_kb[-1][1] - after_warm) / after_warm * 100
    print(f"RSS growth after {at / 60:.1f} min: {growth:+.1f}%")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--report-every", type=float, default=300, help="seconds")
    parser.add_argument("--readers", type=int, default=6)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--subscriptions", type=int, default=20)
    parser.add_argument("--fault-every", type=float, default=60, help="seconds")
    parser.add_argument("--fault-seconds", type=float, default=15)
    args = parser.parse_args(argv)
    background = BackgroundSimulators(seed=7)
    group = background.start()
    try:
        with tempfile.TemporaryDirectory() as folder, gateway_process(group, Path(folder)) as (
            base, pid
        ):
            tally, records = asyncio.run(soak(group, base, pid, args))
    finally:
        background.stop()
    duplicates = any(records[source] > len(tally.acknowledged.get(source, ()))
                     for source in records)
    missing = any(len(seen) != len(set().union(*tally.events)) for seen in tally.events)
    return 1 if tally.non_200 or duplicates or missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
