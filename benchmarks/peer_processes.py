"""The processes of the peer benchmark: simulators, invoice-gateway servers, Hive Gateway.

Each runs as its own process on 127.0.0.1 (the simulators with `invoice-gateway simulate`,
the gateway with `invoice-gateway serve`, the peer with `hive-gateway`), so that each
gateway has a core's worth of CPU to itself while it is measured. Every process is ended
by its own handle when the benchmark stops.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import aiohttp
import httpx
import yaml

from benchmarks import peer_setup

SIM_ORDER = [("orderByField", "id"), ("orderBy", "asc")]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass
class Simulators:
    """The four simulators in one `invoice-gateway simulate` process; Invoicematic is used."""

    process: subprocess.Popen[str]
    root: str  # where /_sim/ lives
    base_url: str
    token: str
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))

    @classmethod
    @contextmanager
    def start(cls) -> Iterator[Simulators]:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli.main", "simulate", "--port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        try:
            assert process.stdout is not None
            found: dict[str, str] = {}
            for _ in range(4):
                kind, base_url, *pairs = process.stdout.readline().split()
                if kind == "invoicematic":
                    found = dict(pair.split("=", 1) for pair in pairs)
                    found["base_url"] = base_url
            root = found["base_url"].removesuffix("/api/v1")
            sims = cls(process, root, found["base_url"], found["token"])
            try:
                yield sims
            finally:
                sims.http.close()
        finally:
            _stop(process)

    def zero_counts(self) -> None:
        """Wait until the last measurement's backlog has drained (a gateway may still be
        working through requests its load generator gave up on), then zero the counts."""
        last, deadline = -1, time.monotonic() + 30
        while (now := self.count()) != last and time.monotonic() < deadline:
            last = now
            time.sleep(0.5)
        self.http.delete(f"{self.root}/_sim/requests").raise_for_status()

    def count(self) -> int:
        total: int = self.http.get(f"{self.root}/_sim/requests").json()["total"]
        return total

    def set_latency(self, ms: int) -> None:
        self.http.put(f"{self.root}/_sim/latency", json={"ms": ms}).raise_for_status()

    def _api(self, path: str, params: list[tuple[str, Any]]) -> Any:
        reply = self.http.get(f"{self.base_url}{path}", params=params,
                              headers={"Authorization": f"Bearer {self.token}"})
        reply.raise_for_status()
        return reply.json()

    def grow_invoices(self, wanted: int) -> int:
        """Create invoices through the API (POST /api/invoices) until `wanted` exist."""
        body = self._api("/api/invoices", [("limit", 1)])
        have: int = body["meta"]["total"]
        customers = [c["id"] for c in self._api("/api/customers", [("limit", "all")])["data"]]
        for index in range(have, wanted):
            lines: list[dict[str, Any]] = [
                {"name": f"Service {n}", "description": "Benchmark line", "quantity": n,
                 "price": 1250 * n} for n in range(1, 4)]
            total = sum(n * 1250 * n for n in range(1, 4))
            invoice = {"invoice_date": "2026-01-15", "due_date": "2026-02-14",
                       "customer_id": customers[index % len(customers)],
                       "invoice_number": f"BENCH-{index:06d}", "discount": 0,
                       "discount_val": 0, "sub_total": total, "total": total, "tax": 0,
                       "template_name": "invoice1", "items": lines}
            reply = self.http.post(f"{self.base_url}/api/invoices", json=invoice,
                                   headers={"Authorization": f"Bearer {self.token}"})
            if reply.status_code >= 300:
                raise SystemExit(f"creating invoice {index}: {reply.status_code} {reply.text}")
        return max(wanted - have, 0)

    # The upstream calls the 50-invoice query makes: a window of 50 invoices
    # (`Adapter.window_sizes`; the page count says that more follow) alone, since the
    # customer fields it asks for (remoteId, name, email) come embedded in the page
    # (`Adapter.provided_customer_fields`). A query asking for more of the customer also
    # reads `GET /api/customers?limit=all`, in parallel with the page.
    PEER_CALLS: ClassVar[dict[str, tuple[str, list[tuple[str, Any]]]]] = {
        "GET /api/invoices?limit=50&page=1":
            ("/api/invoices", [("limit", 50), ("page", 1), *SIM_ORDER]),
    }

    def parallel_round_trip_ms(self, repeats: int) -> float:
        """Median time for the calls of the 50-invoice query issued together, until every
        reply is read and parsed: where there are several, the upstream serves them at the
        same time (the simulator, like most upstreams, works through concurrent replies one
        after another), so this is the critical path a gateway that reads them in parallel
        cannot beat. Measured with aiohttp, a lean client, so that the client's own cost is
        small."""

        async def measure() -> float:
            headers = {"Authorization": f"Bearer {self.token}"}
            async with aiohttp.ClientSession(headers=headers) as session:
                async def call(path: str, params: list[tuple[str, Any]]) -> None:
                    query = [(key, str(value)) for key, value in params]
                    async with session.get(f"{self.base_url}{path}", params=query) as reply:
                        reply.raise_for_status()
                        json.loads(await reply.read())

                times = []
                for attempt in range(repeats + 2):  # two to open the connections
                    started = time.perf_counter()
                    await asyncio.gather(*(call(*c) for c in self.PEER_CALLS.values()))
                    if attempt >= 2:
                        times.append((time.perf_counter() - started) * 1000)
                return statistics.median(times)

        return asyncio.run(measure())

    def round_trips_ms(self, repeats: int) -> dict[str, float]:
        """Median round trip of each upstream call of the 50-invoice query, made alone."""
        result = {}
        for label, (path, params) in self.PEER_CALLS.items():
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                self._api(path, params)
                times.append((time.perf_counter() - started) * 1000)
            result[label] = statistics.median(times)
        return result


@dataclass
class Processes:
    """The gateways under test, each on its own port."""

    gateways: dict[str, str]
    hive_url: str
    http: httpx.Client
    pids: dict[str, int] = field(default_factory=dict)

    @classmethod
    @contextmanager
    def start(cls, sims: Simulators, *, peer: bool, workers: int) -> Iterator[Processes]:
        running: list[subprocess.Popen[Any]] = []
        http = httpx.Client(timeout=30)
        try:
            with tempfile.TemporaryDirectory() as folder:
                modes = {"off": (0, 1), "on": (5, 1)}
                if workers > 1:
                    modes |= {"off-workers": (0, workers), "on-workers": (5, workers)}
                gateways, pids = {}, {}
                for mode, (ttl, count) in modes.items():
                    port = free_port()
                    config = Path(folder) / f"gateway-{mode}.yaml"
                    config.write_text(yaml.safe_dump({
                        "state": f"sqlite:///{folder}/state-{mode}.sqlite3",
                        "sources": [{"name": "billing", "kind": "invoicematic",
                                     "base_url": sims.base_url, "token": sims.token,
                                     "cache_ttl": ttl}],
                    }))
                    command = [sys.executable, "-m", "gateway.cli.main", "serve", "--config",
                               str(config), "--port", str(port), "--log-level", "warning"]
                    if count > 1:
                        command += ["--workers", str(count)]
                    running.append(subprocess.Popen(command, stdout=subprocess.DEVNULL))
                    gateways[mode] = f"http://127.0.0.1:{port}/graphql"
                    pids[mode] = running[-1].pid
                hive_url = ""
                if peer:
                    peer_setup.compose(sims.base_url, sims.token)
                    port = free_port()
                    running.append(subprocess.Popen(
                        peer_setup.hive_command(port), cwd=peer_setup.CACHE,
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                    hive_url = f"http://127.0.0.1:{port}/graphql"
                procs = cls(gateways, hive_url, http, pids)
                for url in [*gateways.values(), *([hive_url] if peer else [])]:
                    procs.wait_ready(url)
                yield procs
        finally:
            http.close()
            for process in running:
                _stop(process)

    def gateway_url(self, mode: str) -> str:
        return self.gateways[mode]

    def cpu_seconds(self, mode: str) -> float:
        """CPU time (user + system) the single-process gateway of `mode` has used so far."""
        fields = Path(f"/proc/{self.pids[mode]}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def query(self, url: str, query: str,
              variables: dict[str, Any] | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {"query": query}
        if variables is not None:
            payload["variables"] = variables
        body: dict[str, Any] = self.http.post(url, json=payload).json()
        return body

    def wait_ready(self, url: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.http.post(url, json={"query": "{ __typename }"}).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} did not answer within {timeout:g}s")
            time.sleep(0.2)
