"""Building the process-wide adapters (and their pooled clients) from the configuration."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

from opentelemetry import trace

from gateway.adapters.base import Adapter
from gateway.registry import KINDS
from gateway.source_config import SourceConfig
from gateway.state.base import StateStore
from gateway.support.metrics import GatewayMetrics
from gateway.upstream.client import SourceClient
from gateway.upstream.plugins import UpstreamPlugin
from gateway.upstream.wire import AiohttpWire, WireFactory


def build_adapter(
    config: SourceConfig,
    wire: WireFactory = AiohttpWire,
    *,
    metrics: GatewayMetrics | None = None,
    tracer: trace.Tracer | None = None,
    state: StateStore | None = None,
    clock: Callable[[], float] = time.monotonic,
    plugins: Sequence[UpstreamPlugin] = (),
) -> Adapter:
    """One adapter with its own pooled HTTP client, cache, concurrency bound, retries and
    circuit breaker, reporting to the app's `metrics` and `tracer` when given.

    `state` is the gateway's state store (the MakersHub adapter keeps its index there).
    `clock` times the read cache and the circuit breaker (tests pass a fake one).
    `plugins` are the app's opt-in speed tricks (gateway.upstream.plugins).

    `wire` builds the client's wire: aiohttp's (the product's one), or another for a
    benchmark's baseline (benchmarks/httpx_wire.py).
    """
    cls = KINDS[config.kind].adapter
    client = SourceClient(
        config.name,
        config.base_url,
        cls.headers(config),
        timeout=config.timeout,
        max_concurrency=config.max_concurrency,
        cache_ttl=config.cache_ttl,
        cache_size=config.cache_size,
        retries=config.retries,
        breaker=config.breaker,
        stale_ttl=config.stale_ttl,
        wire=wire,
        metrics=metrics,
        tracer=tracer,
        clock=clock,
        error_detail=cls.error_detail,
        plugins=plugins,
    )
    adapter = cls(config, client)
    adapter.state = state
    return adapter


def build_adapters(
    configs: Iterable[SourceConfig],
    wire: WireFactory = AiohttpWire,
    *,
    metrics: GatewayMetrics | None = None,
    tracer: trace.Tracer | None = None,
    state: StateStore | None = None,
    clock: Callable[[], float] = time.monotonic,
    plugins: Sequence[UpstreamPlugin] = (),
) -> dict[str, Adapter]:
    """Adapters by source name, in configuration order."""
    return {
        config.name: build_adapter(
            config, wire, metrics=metrics, tracer=tracer, state=state, clock=clock,
            plugins=plugins,
        )
        for config in configs
    }


async def close_adapters(adapters: Iterable[Adapter]) -> None:
    for adapter in adapters:
        await adapter.client.aclose()
