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
  dropped connections, malformed replies, 429s: a share of its requests, seeded);
- every `--unknown-every` seconds one Cloud Billing create is an unknown outcome: the
  simulator makes the record and holds its reply past the source's `timeout` (fault mode
  `late`), so the gateway answers WRITE_OUTCOME_UNKNOWN and the writer's retry with the same
  key must come back with that record, never a second one;
- at `--kill-at` seconds the gateway is SIGKILLed while a Cloud Billing create it sent is
  committed upstream and unanswered, then started again with the same configuration and
  state file; writers keep retrying their keys, subscriptions subscribe again.

The upstreams keep a bounded ledger: every 30 s the soak archives the run's invoices past the
newest `--ledger` per source out of the simulators (counted, for the duplicate check, with
those still there). Unbounded, two writers add ~50,000 invoices in 30 minutes and every list
read costs the simulators (in this process, sharing its CPU with the clients) more each
minute, so throughput falls with time; the gateway's own memory does not follow the
upstreams' size (docs/performance.md).

It prints the requests made, the non-200 answers (a refused connection while the gateway is
down after the kill is counted apart), answers carrying GraphQL errors (expected while a
source is failing: they name it), the unknown outcomes injected and the write answers by
error code (WRITE_OUTCOME_UNKNOWN among them), acknowledged writes against the records the
upstreams hold with the run's numbers (a number held twice is a duplicate), the events every
subscription received against those seen by any once all were (re)subscribed, and the
gateway's RSS at the start (after a warm-up), every `--report-every` seconds (with the
invoices the upstreams then hold and the load average) and at the end.

    python -m benchmarks.soak [--minutes 30] [--report-every 300]

Not a timed test: `tests/test_soak.py` runs it for a few seconds to keep it working.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
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
    while_down: int = 0  # refused or cut while the gateway was down after the kill
    with_errors: int = 0
    codes: Counter[str] = field(default_factory=Counter)  # GraphQL error codes on writes
    acknowledged: dict[str, set[str]] = field(default_factory=dict)  # source -> numbers
    write_attempts: int = 0
    unknown_injected: int = 0
    kills: int = 0
    events: list[dict[str, float]] = field(default_factory=list)  # per subscription: id -> at
    subscribed: list[float] = field(default_factory=list)  # per subscription: last subscribed
    rss_kb: list[tuple[float, int]] = field(default_factory=list)  # (seconds, kB)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Gateway:
    """`invoice-gateway serve` as a process of its own (SQLite state in `folder`), which the
    soak can kill and start again on the same port with the same configuration and state."""

    def __init__(self, group: SimulatorGroup, folder: Path, args: argparse.Namespace) -> None:
        self.group = group
        blocks = group.source_blocks()
        for block in blocks:
            if block["kind"] == "cloudbilling":  # past it, a held create is an unknown outcome
                block["timeout"] = args.cloud_timeout
        self.blocks = blocks
        config = folder / "soak.yaml"
        config.write_text(yaml.safe_dump({"state": f"sqlite:///{folder}/soak.sqlite3",
                                          "sources": blocks}))
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        # --tracemalloc: the CLI under benchmarks.traced_gateway (memory figures on SIGUSR1)
        module = ["-m", "gateway.cli.main"] if args.tracemalloc is None else [
            "-m", "benchmarks.traced_gateway", args.tracemalloc]
        self.command = [sys.executable, *module, "serve", "--config", str(config), "--port",
                        str(self.port), "--log-level", "warning"]
        self.process: subprocess.Popen[bytes] | None = None
        self.down = False

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        import httpx

        process = self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit("soak: the gateway did not start")
            time.sleep(0.2)
        for block in self.blocks:
            if "webhook_secret" in block:
                running = next(r for r in self.group.running.values()
                               if r.source_block()["name"] == block["name"])
                httpx.put(running.url + "/_sim/webhook", json={
                    "url": f"{self.base}/webhooks/{block['name']}",
                    "secret": block["webhook_secret"]}, timeout=5).raise_for_status()

    def signal(self, number: int) -> None:
        assert self.process is not None
        self.process.send_signal(number)

    def kill(self) -> None:
        assert self.process is not None
        self.down = True
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)


async def post(session: aiohttp.ClientSession, url: str, query: str,
               variables: dict[str, Any], tally: Tally, gateway: Gateway
               ) -> dict[str, Any] | None:
    tally.requests += 1
    down = gateway.down
    try:
        async with session.post(url, json={"query": query, "variables": variables}) as reply:
            text = await reply.read()
            status = reply.status
    except (aiohttp.ClientError, TimeoutError):
        if down or gateway.down:
            tally.while_down += 1
            await asyncio.sleep(0.2)
        else:
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
                 rng: random.Random, gateway: Gateway) -> None:
    while time.monotonic() < end:
        query, variables = rng.choice(READS)
        await post(session, url, query, variables, tally, gateway)


async def writer(session: aiohttp.ClientSession, url: str, end: float, tally: Tally,
                 run: str, number: int, customers: dict[str, str], gateway: Gateway) -> None:
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
        attempt = 0
        # The same key until it is acknowledged, also past the end (for up to two minutes):
        # a write left half-known would read as a record nobody acknowledged.
        while time.monotonic() < end + 120:
            tally.write_attempts += 1
            body = await post(session, url, CREATE, {"input": payload}, tally, gateway)
            data = (body or {}).get("data") or {}
            created = data.get("createInvoice") or {}
            for error in (body or {}).get("errors") or ():
                tally.codes[(error.get("extensions") or {}).get("code", "?")] += 1
            if created.get("invoice"):
                tally.acknowledged.setdefault(source, set()).add(invoice_number)
                break
            if created.get("userErrors"):
                print(f"  write refused: {created['userErrors']}", flush=True)
                break
            await asyncio.sleep(min(0.2 * 2 ** attempt, 5))
            attempt += 1


async def subscriber(url: str, index: int, tally: Tally, ready: asyncio.Event,
                     end: float) -> None:
    """One subscription for the whole run, subscribing again whenever it is cut (the kill)."""
    seen = tally.events[index]
    while time.monotonic() < end:
        try:
            async with websockets.connect(
                url, subprotocols=[Subprotocol("graphql-transport-ws")], open_timeout=10
            ) as ws:
                await ws.send(json.dumps({"type": "connection_init"}))
                await ws.recv()
                await ws.send(json.dumps({"id": "1", "type": "subscribe",
                                          "payload": {"query": SUBSCRIBE}}))
                tally.subscribed[index] = time.monotonic()
                ready.set()
                while time.monotonic() < end:
                    try:
                        frame = await asyncio.wait_for(ws.recv(), 1)
                    except TimeoutError:
                        continue
                    message = json.loads(frame)
                    if message.get("type") == "next":
                        event = message["payload"]["data"]["invoiceEvents"]["id"]
                        seen.setdefault(event, time.monotonic())
        except (OSError, websockets.exceptions.WebSocketException, TimeoutError):
            await asyncio.sleep(0.5)


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


async def hold_a_create(group: SimulatorGroup, hold: float, within: float = 30) -> bool:
    """The next Cloud Billing create is made upstream and its reply held `hold` seconds
    (fault mode `late`); True once a create took it, False if none came `within` seconds."""
    running = group.running["cloudbilling"]
    fault = {"mode": "late", "method": "POST", "path": "/invoices", "times": 1, "hold": hold}
    async with aiohttp.ClientSession() as session, session.post(
        running.url + "/_sim/faults", json=fault
    ) as reply:
        reply.raise_for_status()
    controls: Any = running.simulator.controls  # in this process: watch it being taken
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not any(f.mode == "late" for f in controls.faults):
            return True
        await asyncio.sleep(0.05)
    controls.faults[:] = [f for f in controls.faults if f.mode != "late"]
    return False


async def unknown_outcomes(group: SimulatorGroup, every: float, hold: float, end: float,
                           tally: Tally) -> None:
    while every > 0 and time.monotonic() + every < end:
        await asyncio.sleep(every)
        if await hold_a_create(group, hold):
            tally.unknown_injected += 1


async def kill_and_restart(gateway: Gateway, at: float, started: float, tally: Tally) -> None:
    """SIGKILL the gateway while a create it sent is made upstream and unanswered, then start
    it again (same port, configuration and state file)."""
    await asyncio.sleep(max(0.0, started + at - time.monotonic()))
    if not await hold_a_create(gateway.group, hold=5):
        print("  kill: no Cloud Billing create came; killing anyway", flush=True)
    await asyncio.sleep(0.2)  # the record is made; its reply is being held
    gateway.kill()
    tally.kills += 1
    await asyncio.to_thread(gateway.start)
    gateway.down = False
    print(f"  {(time.monotonic() - started) / 60:5.1f} min: gateway SIGKILLed mid-write and "
          f"started again (pid {gateway.pid})", flush=True)


def archive(group: SimulatorGroup, prefix: str, keep: int) -> dict[str, Counter[str]]:
    """Take the run's invoices past the newest `keep` per source out of the simulators
    (oldest first); the numbers taken, per source. Runs in the simulators' thread."""
    invoicematic: Any = group.running["invoicematic"].simulator
    cloud: Any = group.running["cloudbilling"].simulator
    tables = [("billing", "invoice_number", invoicematic.store.invoices)] + [
        ("cloud", "number", tenant.invoices) for tenant in cloud.tenants.values()]
    taken: dict[str, Counter[str]] = {"billing": Counter(), "cloud": Counter()}
    for source, number, table in tables:
        ours = [key for key, record in table.items()
                if str(record.get(number, "")).startswith(prefix)]
        for key in ours[:max(0, len(ours) - keep)]:
            taken[source][str(table.pop(key)[number])] += 1
    return taken


async def bound_ledger(background: BackgroundSimulators, prefix: str, keep: int, end: float,
                       archived: dict[str, Counter[str]]) -> None:
    group = background.group
    assert group is not None
    while keep > 0 and time.monotonic() < end:
        await asyncio.sleep(min(30.0, max(0.0, end - time.monotonic())))
        taken = await background.run(lambda: archive(group, prefix, keep))
        for source, numbers in taken.items():
            archived[source].update(numbers)


def upstream_invoices(group: SimulatorGroup) -> int:
    """Every invoice the four simulators hold: what a full read of a list grows with."""
    total = 0
    for running in group.running.values():
        simulator: Any = running.simulator
        store = getattr(simulator, "store", None)
        if store is not None and hasattr(store, "invoices"):
            total += len(store.invoices)
        for tenant in getattr(simulator, "tenants", {}).values():
            total += len(tenant.invoices)
    return total


def upstream_records(group: SimulatorGroup, prefix: str) -> dict[str, Counter[str]]:
    """Records with the run's invoice numbers, as the upstreams hold them, per number."""
    invoicematic: Any = group.running["invoicematic"].simulator
    cloud: Any = group.running["cloudbilling"].simulator
    return {
        "billing": Counter(str(record.get("invoice_number"))
                           for record in list(invoicematic.store.invoices.values())
                           if str(record.get("invoice_number", "")).startswith(prefix)),
        "cloud": Counter(str(record.get("number")) for tenant in cloud.tenants.values()
                         for record in list(tenant.invoices.values())
                         if str(record.get("number", "")).startswith(prefix)),
    }


async def soak(background: BackgroundSimulators, gateway: Gateway,
               args: argparse.Namespace) -> tuple[Tally, dict[str, Counter[str]], int]:
    group = gateway.group
    url = gateway.base + "/graphql"
    run = uuid.uuid4().hex[:6].upper()
    tally = Tally()
    archived: dict[str, Counter[str]] = {"billing": Counter(), "cloud": Counter()}
    rng = random.Random(18)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        customers = {}
        for source in WRITE_SOURCES:
            body = await post(session, url, "query($s: [String!]) { customers(first: 1, "
                              "sources: $s) { nodes { id } } }", {"s": [source]}, Tally(),
                              gateway)
            customers[source] = (body or {})["data"]["customers"]["nodes"][0]["id"]
        for query, variables in READS:  # warm-up, then the first RSS figure
            await post(session, url, query, variables, Tally(), gateway)
        started = time.monotonic()
        end = started + args.minutes * 60
        tally.rss_kb.append((0.0, rss_kb(gateway.pid)))
        print(f"soak {run}: {args.minutes:g} min, {args.readers} readers, {args.writers} "
              f"writers, {args.subscriptions} subscriptions; RSS at start "
              f"{tally.rss_kb[0][1] / 1024:.1f} MB", flush=True)
        tally.events = [{} for _ in range(args.subscriptions)]
        tally.subscribed = [0.0] * args.subscriptions
        ready = [asyncio.Event() for _ in tally.events]
        ws_url = gateway.base.replace("http", "ws", 1) + "/graphql"
        listening = [asyncio.ensure_future(subscriber(ws_url, n, tally, flag, end + 5))
                     for n, flag in enumerate(ready)]
        await asyncio.wait_for(asyncio.gather(*(flag.wait() for flag in ready)), 30)
        await asyncio.sleep(0.5)

        async def report() -> None:
            while True:
                await asyncio.sleep(args.report_every)
                tally.rss_kb.append((time.monotonic() - started, rss_kb(gateway.pid)))
                if args.tracemalloc is not None:
                    gateway.signal(signal.SIGUSR1)
                print(f"  {tally.rss_kb[-1][0] / 60:5.1f} min: RSS "
                      f"{tally.rss_kb[-1][1] / 1024:.1f} MB, {tally.requests} requests, "
                      f"{tally.non_200} non-200, upstream invoices {upstream_invoices(group)}, "
                      f"load average {os.getloadavg()[0]:.2f}", flush=True)

        reporting = asyncio.ensure_future(report())
        work = [reader(session, url, end, tally, random.Random(n), gateway)
                for n in range(args.readers)]
        work += [writer(session, url, end, tally, run, n, customers, gateway)
                 for n in range(args.writers)]
        work += [unknown_outcomes(group, args.unknown_every, args.cloud_timeout + 2, end,
                                  tally)]
        work += [bound_ledger(background, f"SOAK{run}-", args.ledger, end, archived)]
        if 0 < args.kill_at < args.minutes * 60:
            work += [kill_and_restart(gateway, args.kill_at, started, tally)]
        injecting = asyncio.ensure_future(
            faults(group, args.fault_every, args.fault_seconds, end, rng))
        await asyncio.gather(*work)
        injected = await injecting
        reporting.cancel()
        await asyncio.sleep(3)  # the last events in flight
        tally.rss_kb.append((time.monotonic() - started, rss_kb(gateway.pid)))
        for task in listening:
            task.cancel()
        await asyncio.gather(*listening, return_exceptions=True)
    records = upstream_records(group, f"SOAK{run}-")
    for source, numbers in archived.items():
        records[source].update(numbers)
    return tally, records, injected


def duplicates(records: dict[str, Counter[str]]) -> int:
    return sum(count - 1 for numbers in records.values() for count in numbers.values())


def events_missed(tally: Tally) -> tuple[int, list[int]]:
    """Events first seen once every subscription was (re)subscribed (2 s after the last),
    and how many of those each subscription lacks."""
    since = max(tally.subscribed, default=0.0) + 2
    first: dict[str, float] = {}
    for seen in tally.events:
        for event, at in seen.items():
            first[event] = min(at, first.get(event, at))
    expected = {event for event, at in first.items() if at >= since}
    return len(expected), [len(expected - seen.keys()) for seen in tally.events]


def print_report(tally: Tally, records: dict[str, Counter[str]], injected: int) -> None:
    acknowledged = {source: len(tally.acknowledged.get(source, ())) for source in records}
    held = {source: len(numbers) for source, numbers in records.items()}
    unacknowledged = sum(len(numbers.keys() - tally.acknowledged.get(source, set()))
                         for source, numbers in records.items())
    print(f"requests {tally.requests}, non-200 {tally.non_200}, answers with GraphQL errors "
          f"{tally.with_errors} (faults injected: {injected}); refused while the gateway was "
          f"down: {tally.while_down}")
    print(f"unknown outcomes injected {tally.unknown_injected}, gateway kills {tally.kills}; "
          f"write answers by error code {dict(sorted(tally.codes.items()))}")
    print(f"writes acknowledged {acknowledged} in {tally.write_attempts} attempts; upstream "
          f"records {held} (with those archived); duplicates {duplicates(records)}, records "
          f"never acknowledged {unacknowledged}")
    expected, missed = events_missed(tally)
    received = [len(seen) for seen in tally.events]
    print(f"events: {expected} published once all were subscribed, missed per subscription "
          f"max {max(missed, default=0)}; received per subscription min "
          f"{min(received, default=0)}, max {max(received, default=0)}")
    trail = ", ".join(f"{seconds / 60:.1f} min {kb / 1024:.1f} MB" for seconds, kb in tally.rss_kb)
    print(f"RSS: {trail}")
    # Growth after warming up: from the first figure at 5 minutes or later (in a shorter
    # run, the first figure after the start).
    marks = tally.rss_kb[1:-1] or tally.rss_kb[:1]
    at, after_warm = next(((seconds, kb) for seconds, kb in marks if seconds >= 300), marks[0])
    growth = (tally.rss_kb[-1][1] - after_warm) / after_warm * 100
    print(f"RSS growth after {at / 60:.1f} min: {growth:+.1f}%")
    print(f"load average at the end (1, 5, 15 min): "
          f"{', '.join(f'{load:.2f}' for load in os.getloadavg())}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--report-every", type=float, default=300, help="seconds")
    parser.add_argument("--readers", type=int, default=6)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--subscriptions", type=int, default=20)
    parser.add_argument("--fault-every", type=float, default=60, help="seconds")
    parser.add_argument("--fault-seconds", type=float, default=15)
    parser.add_argument("--unknown-every", type=float, default=60, help="seconds (0: none)")
    parser.add_argument("--kill-at", type=float, default=120, help="seconds (0: no kill)")
    parser.add_argument("--ledger", type=int, default=5000,
                        help="the run's invoices the upstreams keep per source (0: all)")
    parser.add_argument("--cloud-timeout", type=float, default=3,
                        help="Cloud Billing's source timeout, seconds")
    parser.add_argument("--tracemalloc", metavar="DIR",
                        help="run the gateway under benchmarks.traced_gateway: glibc's "
                             "malloc_stats on stderr at each report and, unless DIR is -, "
                             "a tracemalloc snapshot in DIR")
    args = parser.parse_args(argv)
    background = BackgroundSimulators(seed=7)
    group = background.start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            gateway = Gateway(group, Path(folder), args)
            gateway.start()
            try:
                tally, records, injected = asyncio.run(soak(background, gateway, args))
            finally:
                gateway.stop()
    finally:
        background.stop()
    print_report(tally, records, injected)
    _, missed = events_missed(tally)
    acknowledged = sum(len(numbers) for numbers in tally.acknowledged.values())
    held = sum(len(numbers) for numbers in records.values())
    failed = tally.non_200 or duplicates(records) or any(missed) or acknowledged != held
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
