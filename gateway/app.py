"""The app factory: FastAPI with the GraphQL router, health, readiness and webhooks.

Process-wide things (one adapter and pooled client per source; in demo mode the simulators
too) are opened in the lifespan and closed after it. Per-request things (loaders) are made
by the context getter. This module and `resolvers.context` are the only places that see
both the HTTP side and the GraphQL side.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from gateway.access import Authenticator, Identity
from gateway.adapters import Adapter
from gateway.config import GatewayConfig, parse_config
from gateway.errors import UpstreamError
from gateway.export_route import export_invoices
from gateway.frontdoor import FrontDoor
from gateway.graphql_http import ASSETS_PATH, GatewayGraphQLRouter, graphiql_assets
from gateway.metrics import CONTENT_TYPE, GatewayMetrics
from gateway.persisted import persisted_queries
from gateway.persisted_http import PersistedQueryMiddleware
from gateway.scaleout import ScaleOut
from gateway.scope import RequestScope, request_scope
from gateway.simulators.runner import SimulatorGroup
from gateway.sources import HttpTransport, build_adapters, close_adapters
from gateway.state import open_state
from gateway.tracing import tracer_provider_from_env
from gateway.writes import Writes
from resolvers.context import Context
from resolvers.schema import schema

logger = logging.getLogger("invoice_gateway")
READY_TIMEOUT = 5.0
NOBODY = Identity("nobody", frozenset(), frozenset())


def demo_config(group: SimulatorGroup, **overrides: Any) -> GatewayConfig:
    """A configuration with one source per running simulator."""
    blocks = [{**block, **overrides} for block in group.source_blocks()]
    return parse_config({"sources": blocks}, {})


def create_app(
    config: GatewayConfig | None = None,
    *,
    demo_seed: int | None = None,
    http_transport: HttpTransport = "aiohttp",
    tracer_provider: TracerProvider | None = None,
) -> FastAPI:
    """The gateway app: against `config`, or (demo) against simulators it starts itself.

    Traces go to `tracer_provider` when given (tests pass one with an in-memory exporter),
    else to an OTLP exporter when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, else nowhere.
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
            group = await SimulatorGroup.start(seed=demo_seed or 7)
            effective = demo_config(group)
            for running in group.running.values():
                logger.info("simulator %-12s %s", running.simulator.kind, running.base_url)
        adapters = build_adapters(
            effective.sources, http_transport, metrics=metrics, tracer=tracer
        )
        app.state.adapters = adapters
        app.state.simulators = group
        app.state.config = effective
        app.state.authenticator = Authenticator(effective)
        app.state.store = open_state(effective.state)
        app.state.persisted = persisted or persisted_queries(effective)
        # GETs of queries are cacheable as long as the freshest source's reads are.
        app.state.cache_max_age = int(min(source.cache_ttl for source in effective.sources))
        scaleout: ScaleOut | None = None
        try:
            await app.state.store.start()
            scaleout = app.state.scaleout = await ScaleOut.start(effective.redis_url, adapters)
            app.state.store = scaleout.shared_state(app.state.store)
            app.state.writes = Writes(adapters, app.state.store)
            yield
        finally:
            if scaleout is not None:
                await scaleout.close()
            await close_adapters(adapters.values())
            await app.state.store.close()
            if group is not None:
                await group.stop()
            if provider is not None and tracer_provider is None:
                provider.shutdown()

    app = FastAPI(title="invoice-gateway", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.metrics = metrics
    app.state.tracer = tracer

    async def context_getter(request: Request) -> Context:
        state = request.app.state
        # The front door leaves the identity on every request it let through to execution;
        # only the GraphiQL page (which executes nothing) arrives without one.
        identity: Identity = getattr(request.state, "identity", NOBODY)
        return Context(state.adapters, state.writes, identity, state.config.limits)

    app.include_router(
        GatewayGraphQLRouter(schema, context_getter=context_getter), prefix="/graphql"
    )
    # GraphiQL's pinned scripts and styles: the page needs nothing from the internet.
    app.mount(ASSETS_PATH, StaticFiles(directory=str(graphiql_assets())), name="graphiql")
    app.add_middleware(PersistedQueryMiddleware, path="/graphql")
    # Added last, so outermost: nothing (persisted queries included) runs before the front
    # door has authenticated the caller and checked the body size.
    app.add_middleware(FrontDoor)

    app.add_api_route("/export/invoices", export_invoices, methods=["GET"])

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics")
    async def metrics_text(request: Request) -> Response:
        return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE)

    @app.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        # One honest attempt per source: no retries, no stale copies.
        with request_scope(RequestScope(resilient=False)):
            report = await check_sources(request.app.state.adapters)
        ready = all(entry["ok"] for entry in report.values())
        return JSONResponse({"ready": ready, "sources": report}, 200 if ready else 503)

    @app.post("/webhooks/{source}")
    async def webhook(source: str, request: Request) -> JSONResponse:
        adapters: Mapping[str, Adapter] = request.app.state.adapters
        return await receive_webhook(adapters.get(source), source, request)

    return app


async def check_sources(adapters: Mapping[str, Adapter]) -> dict[str, dict[str, Any]]:
    """Each source's readiness: one authenticated request, all sources concurrently."""

    async def one(adapter: Adapter) -> dict[str, Any]:
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                await adapter.check()
        except UpstreamError as exc:
            return {"ok": False, "kind": adapter.kind, "code": exc.code, "error": str(exc)}
        except TimeoutError:
            return {"ok": False, "kind": adapter.kind, "code": "UPSTREAM_TIMEOUT",
                    "error": f"{adapter.name}: no answer within {READY_TIMEOUT:g}s"}
        return {"ok": True, "kind": adapter.kind}

    results = await asyncio.gather(*(one(adapter) for adapter in adapters.values()))
    return dict(zip(adapters, results, strict=True))


SIGNATURE_HEADERS = {"makershub": "x-signature", "invoicematic": "x-webhook-signature"}


async def receive_webhook(adapter: Adapter | None, source: str, request: Request) -> JSONResponse:
    """Verify an upstream's webhook and drop that source's cached reads.

    The signature is the lower-case hex HMAC-SHA256 of the raw body with the source's
    `webhook_secret` (MakersHub `X-Signature`, Invoicematic `X-Webhook-Signature`).
    """
    if adapter is None:
        return _problem(404, f"unknown source {source!r}")
    header = SIGNATURE_HEADERS.get(adapter.kind)
    if header is None:
        return _problem(404, f"source {source!r} ({adapter.kind}) sends no webhooks")
    secret = adapter.config.webhook_secret
    if secret is None:
        return _problem(409, f"source {source!r} has no webhook_secret configured")
    body = await request.body()
    expected = hmac.new(secret.get_secret_value().encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, request.headers.get(header, "").lower()):
        return _problem(401, f"invalid or missing {header} signature")
    adapter.client.cache.clear()
    logger.info("webhook from %s accepted (%d bytes); cache cleared", source, len(body))
    return JSONResponse({"accepted": True}, 202)


def _problem(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status)
