"""The app factory: FastAPI with the GraphQL router, health, readiness and webhooks.

Process-wide things (one adapter and pooled client per source; in demo mode the simulators
too) are opened in the lifespan and closed after it. Per-request things (loaders) are made
by the context getter. This module and `resolvers.context` are the only places that see
both the HTTP side and the GraphQL side.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from starlette.requests import HTTPConnection

from gateway.adapters import Adapter
from gateway.adapters.build import build_adapters, close_adapters
from gateway.config import CorsConfig, GatewayConfig, parse_config
from gateway.domain.events import InvoiceEvent
from gateway.domain.identity import Identity
from gateway.events.backfill import backfill
from gateway.events.bus import LocalEventBus
from gateway.events.feed import ChangeFeed
from gateway.events.hub import EventHub
from gateway.events.sync import SourcePoller
from gateway.registry import KINDS
from gateway.scaleout.replicas import ScaleOut
from gateway.simulators.runner import SimulatorGroup
from gateway.state.open import open_state
from gateway.support.metrics import CONTENT_TYPE, GatewayMetrics
from gateway.support.tracing import tracer_provider_from_env
from gateway.upstream.plugins import UpstreamPlugin
from gateway.upstream.plugins.early import EarlyReads
from gateway.upstream.plugins.gcpace import GcPacer
from gateway.upstream.wire import AiohttpWire, WireFactory
from gateway.web import webhooks
from gateway.web.access import Authenticator
from gateway.web.cors import BrowserOrigins, OriginPolicy
from gateway.web.export_route import export_invoices
from gateway.web.frontdoor import FrontDoor
from gateway.web.graphql_http import ASSETS_PATH, GatewayGraphQLRouter, graphiql_assets
from gateway.web.persisted import persisted_queries
from gateway.web.persisted_http import PersistedQueryMiddleware
from gateway.web.probes import SourceHealth, find_server, readiness
from gateway.writes.exactly_once import Writes
from resolvers.context import Context
from resolvers.schema import schema_for

logger = logging.getLogger("invoice_gateway")
NOBODY = Identity("nobody", frozenset(), frozenset())


def demo_config(
    group: SimulatorGroup, cors: CorsConfig | None = None, **overrides: Any
) -> GatewayConfig:
    """A configuration with one source per running simulator (and `cors`, when given)."""
    blocks = [{**block, **overrides} for block in group.source_blocks()]
    top: dict[str, Any] = {"sources": blocks}
    if cors is not None:
        top["cors"] = cors.model_dump()
    return parse_config(top, {})


DEMO_SYNC_INTERVAL = 60.0


def demo_sync(config: GatewayConfig, group: SimulatorGroup) -> GatewayConfig:
    """The demo polls the simulators that send no webhooks (Makini, Cloud Billing) for the
    change feed, every `DEMO_SYNC_INTERVAL` seconds."""
    quiet = {KINDS[running.simulator.kind].demo_name for running in group.running.values()
             if not running.simulator.sends_webhooks}
    sources = [source.model_copy(update={"sync_interval": DEMO_SYNC_INTERVAL})
               if source.name in quiet else source for source in config.sources]
    return config.model_copy(update={"sources": sources})


def upstream_plugins(
    config: GatewayConfig | None, metrics: GatewayMetrics
) -> list[UpstreamPlugin]:
    """The upstream plug-ins (gateway.upstream.plugins) the configuration switches on (the
    demo: the defaults, none). The GC pacer changes the collector's thresholds only once the
    serving command enables it (`gateway.cli.main.tune_gc`)."""
    defaults = GatewayConfig.model_fields
    early_reads = bool(defaults["early_reads"].default if config is None else config.early_reads)
    gc_pacing = bool(defaults["gc_pacing"].default if config is None else config.gc_pacing)
    plugins: list[UpstreamPlugin] = []
    if early_reads:
        plugins.append(EarlyReads(
            on_used=lambda source: metrics.early_reads.labels(source, "used").inc(),
            on_unused=lambda source: metrics.early_reads.labels(source, "unused").inc(),
        ))
    if gc_pacing:
        plugins.append(GcPacer())
    return plugins


def create_app(
    config: GatewayConfig | None = None,
    *,
    demo_seed: int | None = None,
    demo_invoices: int | None = None,
    wire: WireFactory = AiohttpWire,
    tracer_provider: TracerProvider | None = None,
    demo_url: str | None = None,
    demo_cors: CorsConfig | None = None,
    clock: Callable[[], float] = time.monotonic,
    plugins: Sequence[UpstreamPlugin] | None = None,
) -> FastAPI:
    """The gateway app: against `config`, or (demo) against simulators it starts itself.

    Traces go to `tracer_provider` when given (tests pass one with an in-memory exporter),
    else to an OTLP exporter when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, else nowhere.
    `demo_url` is where the demo gateway will be reachable (`http://127.0.0.1:8000`): its
    simulators send their webhooks there, so writes show up in subscriptions. `demo_cors`
    lets browser apps on other origins call the demo (`demo --cors-origin`). `clock` times
    the sources' read caches and circuit breakers (tests pass a fake one instead of sleeping).
    `plugins` replaces the upstream plug-ins the configuration switches on
    (`upstream_plugins`; a test serving the demo passes its own). `wire` builds each
    source's wire (a benchmark passes httpx's, benchmarks/httpx_wire.py).
    """
    if config is None and demo_seed is None:
        raise ValueError("create_app needs a configuration or a demo seed")
    metrics = GatewayMetrics()
    provider = tracer_provider or tracer_provider_from_env()
    tracer = provider.get_tracer("invoice_gateway") if provider else trace.NoOpTracer()
    # Read a persisted query manifest now, so that a bad one stops start-up with its name.
    persisted = persisted_queries(config) if config is not None else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        group: SimulatorGroup | None = None
        effective = config
        if effective is None:
            group = await SimulatorGroup.start(seed=demo_seed or 7, invoices=demo_invoices)
            effective = demo_sync(demo_config(group, demo_cors), group)
            for running in group.running.values():
                logger.info("simulator %-12s %s", running.simulator.kind, running.base_url)
        store = open_state(effective.state, effective.state_timeout)
        adapters = build_adapters(
            effective.sources, wire, metrics=metrics, tracer=tracer, state=store, clock=clock,
            plugins=app.state.plugins,
        )
        if not effective.list_windows:
            for adapter in adapters.values():
                adapter.window_sizes = ()
        bus = LocalEventBus()
        app.state.adapters = adapters
        app.state.simulators = group
        app.state.config = effective
        app.state.origins = OriginPolicy(effective.cors)
        graphql.connection_init_wait_timeout = timedelta(
            seconds=effective.limits.connection_init_timeout
        )
        app.state.authenticator = Authenticator(effective)
        app.state.store = store
        # The change feed lives in the state store itself (never only in Redis): durable,
        # and one feed for replicas sharing PostgreSQL.
        app.state.changes = ChangeFeed(store, effective.changes_retention_days)
        app.state.events = EventHub(adapters, bus, feed=app.state.changes)
        app.state.pollers = {
            source.name: SourcePoller(adapters[source.name], app.state.changes,
                                      source.sync_interval)
            for source in effective.sources if source.sync_interval is not None
        }
        app.state.persisted = persisted or persisted_queries(effective)
        # GETs of queries are cacheable as long as the freshest source's reads are.
        app.state.cache_max_age = int(min(source.cache_ttl for source in effective.sources))
        app.state.draining = False
        app.state.server = find_server()  # uvicorn's, when it serves us: its shutdown flag
        scaleout: ScaleOut | None = None
        background: list[asyncio.Task[None]] = []
        try:
            await store.start()
            scaleout = app.state.scaleout = await ScaleOut.start(effective.redis_url, adapters)
            app.state.store = scaleout.shared_state(store)
            share_events(scaleout, bus)
            for adapter in adapters.values():
                adapter.state = app.state.store  # the MakersHub index, shared where Redis is
            app.state.writes = Writes(adapters, app.state.store, app.state.events)
            if group is not None:
                await prepare_demo(group, adapters, demo_url)
            background = [asyncio.create_task(app.state.changes.keep_pruning())]
            background += [asyncio.create_task(poller.run())
                           for poller in app.state.pollers.values()]
            yield
        finally:
            app.state.draining = True
            for task in background:
                task.cancel()
            for task in background:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await bus.close()
            if scaleout is not None:
                await scaleout.close()
            await close_adapters(adapters.values())
            await app.state.store.close()
            if group is not None:
                await group.stop()
            if provider is not None and tracer_provider is None:
                provider.shutdown()

    # No OpenAPI document or its pages: the API is GraphQL (its schema is the contract),
    # and a public route list helps nobody but a scanner.
    app = FastAPI(title="invoice-gateway", lifespan=lifespan, openapi_url=None, docs_url=None,
                  redoc_url=None)
    app.state.metrics = metrics
    app.state.health = SourceHealth(metrics)
    app.state.tracer = tracer
    # The opt-in speed tricks, one list for the front door and every source's client.
    app.state.plugins = tuple(
        upstream_plugins(config, metrics) if plugins is None else plugins
    )

    async def context_getter(connection: HTTPConnection) -> Context:
        # HTTPConnection: the same getter serves POST/GET requests and WebSockets. The front
        # door leaves the identity on every connection it let through to execution; only the
        # GraphiQL page (which executes nothing) arrives without one.
        state = connection.app.state
        identity: Identity = getattr(connection.state, "identity", NOBODY)
        return Context(
            state.adapters, state.writes, identity, state.config.limits, events=state.events
        )

    # The demo executes as a configured gateway does by default.
    executor = (config.executor if config is not None
                else str(GatewayConfig.model_fields["executor"].default))
    graphql = GatewayGraphQLRouter(schema_for(executor), context_getter=context_getter)
    app.include_router(graphql, prefix="/graphql")
    # GraphiQL's pinned scripts and styles: the page needs nothing from the internet.
    app.mount(ASSETS_PATH, StaticFiles(directory=str(graphiql_assets())), name="graphiql")
    app.add_middleware(PersistedQueryMiddleware, path="/graphql")
    # Added last, so outermost: nothing (persisted queries included) runs before the front
    # door has authenticated the caller and checked the body size.
    app.add_middleware(FrontDoor)
    # Outermost of all: a browser's preflight is answered before authentication (it carries
    # no credential), and 401s and other refusals carry CORS headers a page can read.
    app.add_middleware(BrowserOrigins)

    app.add_api_route("/export/invoices", export_invoices, methods=["GET"])

    # Probes (gateway/web/probes.py, docs/operations.md): liveness, this process's readiness,
    # and per-source health on /metrics (whose caller the front door has checked).
    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        ready, checks = await readiness(request.app.state)
        return JSONResponse({"ready": ready, "checks": checks}, 200 if ready else 503)

    @app.get("/metrics")
    async def metrics_text(request: Request) -> Response:
        await request.app.state.health.refresh(request.app.state.adapters)
        return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE)

    app.include_router(webhooks.router)

    return app


EVENTS_TOPIC = "invoice-events"


def share_events(scaleout: ScaleOut, bus: LocalEventBus) -> None:
    """With Redis, events published on one replica reach subscribers on every replica."""
    if scaleout.link is None:
        return

    async def send(event: InvoiceEvent) -> None:
        await scaleout.publish(EVENTS_TOPIC, {"event": event.to_json()})

    def receive(payload: Mapping[str, Any]) -> None:
        bus.deliver(InvoiceEvent.from_json(str(payload["event"])))

    bus.share(send)
    scaleout.subscribe(EVENTS_TOPIC, receive)


async def prepare_demo(
    group: SimulatorGroup, adapters: Mapping[str, Adapter], demo_url: str | None
) -> None:
    """Wire the demo's simulators to it: their webhooks go to the gateway's own receivers,
    and the MakersHub index is seeded by probing the simulator's id range (a backfill)."""
    for running in group.running.values():
        sim = running.simulator
        name = KINDS[sim.kind].demo_name
        if sim.sends_webhooks and demo_url is not None:
            sim.webhooks.target(f"{demo_url.rstrip('/')}/webhooks/{name}")
        if KINDS[sim.kind].adapter.lists_from_index:
            known = [int(remote_id) for remote_id in sim.remote_ids("invoices")]
            report = await backfill(adapters[name], range(min(known), max(known) + 1))
            logger.info("demo: indexed %d invoices of %s", report.found, name)
