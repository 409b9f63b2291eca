"""Shared fixtures: a simulator per kind over real HTTP on 127.0.0.1, and adapters for them."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from gateway.adapters import Adapter
from gateway.adapters.build import build_adapter
from gateway.config import parse_source
from gateway.simulators.runner import BackgroundSimulators, RunningSimulator, SimulatorGroup
from gateway.state.base import StateStore
from gateway.support import signing

SEED = 7


@pytest.fixture(scope="session")
def simulators() -> Iterator[SimulatorGroup]:
    background = BackgroundSimulators(seed=SEED)
    group = background.start()
    yield group
    background.stop()


@pytest.fixture(autouse=True)
def _clean_controls(request: pytest.FixtureRequest) -> Iterator[None]:
    """Injected faults and latency never leak from one test into the next."""
    yield
    if "simulators" in request.fixturenames:
        group: SimulatorGroup = request.getfixturevalue("simulators")
        for running in group.running.values():
            controls = running.simulator.controls
            controls.faults.clear()
            controls.latency_ms = 0


def sim_control(running: RunningSimulator, method: str, path: str, body: Any = None) -> Any:
    """Call a simulator's `/_sim/` control over HTTP."""
    response = httpx.request(method, running.url + path, json=body, timeout=5)
    response.raise_for_status()
    return response.json()


def reset_simulator(running: RunningSimulator) -> None:
    sim_control(running, "POST", "/_sim/reset")


class FakeClock:
    """A monotonic clock that moves only when a test moves it (`advance`)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


AdapterFactory = Callable[..., Adapter]


@pytest.fixture
async def make_adapter(simulators: SimulatorGroup) -> AsyncIterator[AdapterFactory]:
    """`make_adapter(kind, state=None, **config_overrides)`: an adapter wired to that kind's
    simulator (`state`: a state store, which the MakersHub adapter lists from)."""
    made: list[Adapter] = []

    def factory(kind: str, state: StateStore | None = None, **overrides: Any) -> Adapter:
        block = simulators.running[kind].source_block()
        block.setdefault("cache_ttl", 0)
        block.setdefault("retries", 0)  # adapter tests see each injected fault as it is
        block.update(overrides)
        adapter = build_adapter(parse_source(block), state=state)
        made.append(adapter)
        return adapter

    yield factory
    for adapter in made:
        await adapter.client.aclose()


class GatewayClient:
    """The gateway app, through its ASGI interface, with its lifespan running."""

    def __init__(self, http: httpx.AsyncClient, app: Any = None) -> None:
        self.http = http
        self.app = app

    async def query(self, text: str, variables: dict[str, Any] | None = None,
                    headers: dict[str, str] | None = None) -> dict[str, Any]:
        response = await self.http.post("/graphql", json={"query": text, "variables": variables},
                                        headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(self, text: str, variables: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None) -> dict[str, Any]:
        """The `data` of a query that must succeed without any error."""
        body = await self.query(text, variables, headers)
        assert not body.get("errors"), body.get("errors")
        data: dict[str, Any] = body["data"]
        return data


GatewayFactory = Callable[..., Any]


@pytest.fixture
async def make_gateway(simulators: SimulatorGroup) -> AsyncIterator[GatewayFactory]:
    """`await make_gateway(cache_ttl=0, **source_overrides)`: a gateway over the simulators.

    Keyword-only extras: `top` (top-level configuration keys such as `state`, `clients`,
    `jwt`, `limits`, `persisted_queries`), `extra_sources` (more source blocks after the
    four), `peer` (the client address the app sees; default loopback), `tracer_provider` and
    `clock` (a `FakeClock` that times read caches and breakers, instead of sleeping).
    """
    from contextlib import AsyncExitStack

    async with AsyncExitStack() as stack:

        async def factory(
            *,
            top: dict[str, Any] | None = None,
            extra_sources: list[dict[str, Any]] | None = None,
            peer: str = "127.0.0.1",
            tracer_provider: Any = None,
            clock: Callable[[], float] | None = None,
            **overrides: Any,
        ) -> GatewayClient:
            app = gateway_app(
                simulators, top, extra_sources=extra_sources, tracer_provider=tracer_provider,
                clock=clock, **overrides,
            )
            return await stack.enter_async_context(open_gateway(app, peer=peer))

        yield factory


def gateway_app(
    simulators: SimulatorGroup,
    top: dict[str, Any] | None = None,
    *,
    extra_sources: list[dict[str, Any]] | None = None,
    tracer_provider: Any = None,
    clock: Callable[[], float] | None = None,
    **overrides: Any,
) -> Any:
    """The gateway app over the simulators (cache off unless asked for)."""
    from gateway.app import create_app
    from gateway.config import parse_config

    overrides.setdefault("cache_ttl", 0)
    blocks = [{**block, **overrides} for block in simulators.source_blocks()]
    blocks += extra_sources or []
    # GATEWAY_TEST_EXECUTOR=graphql-core runs the gateway tests on the plain executor
    # (resolvers/executor.py, docs/performance.md).
    executor = os.environ.get("GATEWAY_TEST_EXECUTOR")
    top = {**({"executor": executor} if executor else {}), **(top or {})}
    effective = parse_config({"sources": blocks, **top}, {})
    return create_app(effective, tracer_provider=tracer_provider, clock=clock or time.monotonic)


@asynccontextmanager
async def open_gateway(app: Any, peer: str = "127.0.0.1") -> AsyncIterator[GatewayClient]:
    """Run an app's lifespan and talk to it through ASGI (as a client at `peer`); closing it
    is a shutdown."""
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=transport, base_url="http://gw"
    ) as http:
        yield GatewayClient(http, app)


@pytest.fixture
async def gateway(make_gateway: GatewayFactory) -> GatewayClient:
    client: GatewayClient = await make_gateway()
    return client


def wait_ready(base: str, attempts: int = 300) -> None:
    """Poll `base`/readyz (a gateway started as a process) until it answers 200."""
    import time

    for _ in range(attempts):
        try:
            if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{base} did not become ready")


def request_counts(simulators: SimulatorGroup) -> dict[str, dict[str, int]]:
    """Each simulator's request counts per route, read over HTTP."""
    return {
        kind: sim_control(running, "GET", "/_sim/requests")["routes"]
        for kind, running in simulators.running.items()
    }


@pytest.fixture
def fresh_simulators(simulators: SimulatorGroup) -> Iterator[SimulatorGroup]:
    """For tests that write: every simulator is re-seeded afterwards, so no other test
    sees their records."""
    yield simulators
    for running in simulators.running.values():
        reset_simulator(running)


def zero_counts(simulators: SimulatorGroup) -> None:
    for running in simulators.running.values():
        sim_control(running, "DELETE", "/_sim/requests")


def event_time(at: float | None = None) -> str:
    """A webhook body's event time: now (to the microsecond, so that two deliveries of
    the same event are two bodies) unless `at` (Unix seconds) says otherwise."""
    moment = datetime.now(UTC) if at is None else datetime.fromtimestamp(at, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def invoicematic_delivery(
    secret: str, event: str, data: dict[str, Any], *, delivery_id: str | None = None,
    timestamp: float | None = None, signature: str | None = None,
    signed_at: float | None = None,
) -> tuple[bytes, dict[str, str]]:
    """An Invoicematic webhook delivery (body and headers) as seed 003 documents it:
    `timestamp` is the header's time, `signed_at` the body's (both default to now)."""
    body = json.dumps({"event": event, "timestamp": event_time(signed_at), "data": data}).encode()
    return body, {
        "X-Webhook-Signature": signature or signing.sign(secret, body),
        "X-Webhook-Event": event,
        "X-Webhook-Delivery-Id": delivery_id or uuid.uuid4().hex,
        "X-Webhook-Timestamp": str(int(time.time() if timestamp is None else timestamp)),
        "Content-Type": "application/json",
    }


def makershub_delivery(
    secret: str, operation: str, invoice_id: int, context: dict[str, Any] | None = None,
    *, signed_at: float | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A MakersHub event notification (body and headers) as its wire contract gives it."""
    note = {"cid": 1001, "name": "Invoice", "id": invoice_id, "operation": operation,
            "timestamp": event_time(signed_at), "context": context or {}}
    body = json.dumps({"eventNotification": note}).encode()
    return body, {"X-Signature": signing.sign(secret, body), "Content-Type": "application/json"}


INVOICE_PAGE = """query($after: String, $filter: InvoiceFilter) {
  invoices(first: 500, after: $after, filter: $filter) {
    pageInfo { hasNextPage endCursor }
    nodes { %s }
  }
}"""


async def read_all_invoices(
    gateway: GatewayClient, fields: str, filter: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Every invoice `invoices` returns for `filter`, page after page (the reference that
    summaries and exports are checked against)."""
    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        data = await gateway.data(INVOICE_PAGE % fields, {"after": after, "filter": filter})
        nodes += data["invoices"]["nodes"]
        if not data["invoices"]["pageInfo"]["hasNextPage"]:
            return nodes
        after = data["invoices"]["pageInfo"]["endCursor"]


_REPORT_KEY = pytest.StashKey[list[str]]()


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """`report(line)`: a line shown in the run's summary whether or not the test passes
    (the conformance audit's verdict, where a screenshot was saved)."""
    lines = request.config.stash.setdefault(_REPORT_KEY, [])
    return lines.append


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    lines = config.stash.get(_REPORT_KEY, [])
    if lines:
        terminalreporter.section("invoice-gateway test reports")
        for line in lines:
            terminalreporter.write_line(line)
