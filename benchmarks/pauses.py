"""Process-wide pauses under varied traffic: what stalls every connection at once.

Serves the Invoicematic simulator (1,000 invoices, `--latency` ms per call) through one
`invoice-gateway` process (read cache off) and loads it with `--clients` connections asking
the 40 distinct pages of `benchmarks.varied`, once per configuration: garbage-collection
pacing (`gc_pacing`) and early reads (`early_reads`) on and off. Inside the gateway process
two probes record what a latency percentile cannot tell apart:

- every garbage collection (`gc.callbacks`): generation and duration;
- event-loop lag: a task that asks to wake every 5 ms and records how late it wakes.

A collection or lag of tens of milliseconds stalls every request in the process at once,
which is what a run of slow requests in a row looks like from outside.

    python -m benchmarks.pauses [--seconds 10] [--clients 10] [--latency 5]

Everything runs on 127.0.0.1; every process is ended by its own handle.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import yaml

from benchmarks import varied
from benchmarks.peer_processes import Simulators, _stop, free_port

VARIANTS = [  # (gc_pacing, early_reads)
    (False, False),
    (True, False),
    (False, True),
    (True, True),
]
LAG_TICK = 0.005


@dataclass
class Probes:
    """Inside the gateway process: garbage collections and event-loop lag."""

    collections: list[tuple[int, float]] = field(default_factory=list)  # (generation, ms)
    lags: list[float] = field(default_factory=list)  # ms late, where more than 1 ms
    _started: float = 0.0

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.collections.append(
                (info["generation"], (time.perf_counter() - self._started) * 1000))

    async def watch_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(LAG_TICK)
            late = (loop.time() - before - LAG_TICK) * 1000
            if late > 1:
                self.lags.append(late)

    def summary(self) -> dict[str, Any]:
        by_generation: dict[str, Any] = {}
        for generation in (0, 1, 2):
            times = [ms for gen, ms in self.collections if gen == generation]
            by_generation[str(generation)] = {
                "count": len(times), "total_ms": round(sum(times), 1),
                "max_ms": round(max(times, default=0.0), 1)}
        return {"gc": by_generation, "lag_max_ms": round(max(self.lags, default=0.0), 1),
                "lags_over_20ms": sum(1 for lag in self.lags if lag > 20),
                "lag_over_20ms_total": round(sum(lag for lag in self.lags if lag > 20), 1)}


def child(config_path: str, port: int, out: str) -> None:
    """The gateway process, probed; writes its probes' summary to `out` when stopped."""
    import uvicorn

    from gateway.app import create_app
    from gateway.cli.main import tune_gc
    from gateway.config import load_config
    from gateway.simulators.runner import bind_socket

    config = load_config(config_path)
    app = create_app(config)
    sock = bind_socket("127.0.0.1", port)
    tune_gc(app.state.plugins)
    probes = Probes()
    gc.callbacks.append(probes.on_gc)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                           lifespan="on"))

    async def report() -> None:
        # Written every half second: uvicorn ends the process on SIGTERM by re-raising it
        # once it has shut down, before anything after `serve` could run.
        while True:
            await asyncio.sleep(0.5)
            Path(out).write_text(json.dumps(probes.summary()))

    async def main() -> None:
        probing = [asyncio.ensure_future(probes.watch_loop()), asyncio.ensure_future(report())]
        try:
            await server.serve(sockets=[sock])
        finally:
            for task in probing:
                task.cancel()

    asyncio.run(main())


@dataclass
class Run:
    seconds: float
    latencies: list[float]  # ms, in completion order
    failed: int

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    def slow_runs(self) -> int:
        """Requests slower than 3x the median that completed right after another such one:
        stalls that hit several connections at once."""
        limit = 3 * self.percentile(0.5)
        return sum(1 for before, now in zip(self.latencies, self.latencies[1:], strict=False)
                   if before > limit and now > limit)


async def load(url: str, payloads: list[dict[str, Any]], clients: int,
               seconds: float) -> Run:
    """`clients` connections posting the payloads in turn for `seconds`; a non-200 answer
    or an answer with errors counts as failed."""
    bodies = [json.dumps(payload).encode() for payload in payloads]
    latencies: list[float] = []
    failed = 0
    end = time.perf_counter() + seconds
    headers = {"Content-Type": "application/json"}

    async def client(number: int, session: aiohttp.ClientSession) -> None:
        nonlocal failed
        index = number * 7
        while time.perf_counter() < end:
            body = bodies[index % len(bodies)]
            index += 1
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as reply:
                text = await reply.read()
            latencies.append((time.perf_counter() - started) * 1000)
            if reply.status != 200 or b'"errors"' in text:
                failed += 1

    connector = aiohttp.TCPConnector(limit=clients)
    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(client(n, session) for n in range(clients)))
    return Run(time.perf_counter() - started, latencies, failed)


def measure(sims: Simulators, folder: Path, pacing: bool, early: bool,
            args: argparse.Namespace) -> tuple[Run, dict[str, Any]]:
    name = f"pacing-{pacing}-early-{early}"
    config = folder / f"{name}.yaml"
    config.write_text(yaml.safe_dump({
        "state": f"sqlite:///{folder}/{name}.sqlite3", "early_reads": early,
        "gc_pacing": pacing,
        "sources": [{"name": "billing", "kind": "invoicematic", "base_url": sims.base_url,
                     "token": sims.token, "cache_ttl": 0}],
    }))
    port, out = free_port(), folder / f"{name}.json"
    process = subprocess.Popen([sys.executable, "-m", "benchmarks.pauses", "--child",
                                str(config), str(port), str(out)])
    url = f"http://127.0.0.1:{port}/graphql"
    try:
        with httpx.Client(timeout=30) as http:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if http.post(url, json={"query": "{ __typename }"}).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit(f"{name}: the gateway did not start")
                time.sleep(0.2)

            def query(text: str, variables: dict[str, Any]) -> dict[str, Any]:
                body: dict[str, Any] = http.post(
                    url, json={"query": text, "variables": variables}).json()
                return body

            payloads = varied.our_payloads(varied.pages(), varied.cursors(query))
        asyncio.run(load(url, payloads, args.clients, 1))  # warm-up
        out.unlink(missing_ok=True)
        baseline = _probed(out)
        run = asyncio.run(load(url, payloads, args.clients, args.seconds))
        probes = _since(baseline, _probed(out))
    finally:
        _stop(process)
    return run, probes


def _probed(out: Path) -> dict[str, Any]:
    """The probes' next summary (written every half second)."""
    deadline = time.monotonic() + 5
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.6)
    summary: dict[str, Any] = json.loads(out.read_text())
    return summary


def _since(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The collections counted during the load (maxima and lags are the whole run's)."""
    result = dict(after)
    result["gc"] = {gen: {**after["gc"][gen],
                          "count": after["gc"][gen]["count"] - before["gc"][gen]["count"],
                          "total_ms": round(after["gc"][gen]["total_ms"]
                                            - before["gc"][gen]["total_ms"], 1)}
                    for gen in after["gc"]}
    return result


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]), sys.argv[4])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10, help="load per configuration")
    parser.add_argument("--clients", type=int, default=10, help="concurrent connections")
    parser.add_argument("--latency", type=int, default=5, help="upstream latency in ms")
    args = parser.parse_args()
    with Simulators.start() as sims, tempfile.TemporaryDirectory() as folder:
        created = sims.grow_invoices(varied.INVOICES)
        sims.set_latency(args.latency)
        print(f"{varied.PAGES} distinct pages over {varied.INVOICES} invoices ({created} "
              f"created), cache off, {args.clients} clients, {args.latency} ms upstream "
              f"latency, {args.seconds:g} s each", flush=True)
        print(f"{'gc_pacing':<10}{'early':<7}{'req/s':>7}{'p50':>7}{'p99':>7}{'max':>7}"
              f"{'failed':>7}{'runs':>6}  gc gen 0, 1, 2: n/total/max ms   loop lag max,"
              " >20ms")
        for pacing, early in VARIANTS:
            run, probes = measure(sims, Path(folder), pacing, early, args)
            collections = probes.get("gc", {})
            gcs = " ".join(f"{collections[g]['count']}/{collections[g]['total_ms']:g}/"
                           f"{collections[g]['max_ms']:g}"
                           for g in ("0", "1", "2")) if collections else "-"
            print(f"{pacing!s:<10}{early!s:<7}{run.rate:7.0f}{run.percentile(0.5):7.1f}"
                  f"{run.percentile(0.99):7.1f}{max(run.latencies):7.1f}{run.failed:7d}"
                  f"{run.slow_runs():6d}  {gcs:<34}{probes.get('lag_max_ms', 0):6.1f} ms,"
                  f" {probes.get('lags_over_20ms', 0)}", flush=True)
            if run.failed:
                raise SystemExit(f"{run.failed} failed responses")


if __name__ == "__main__":
    main()
