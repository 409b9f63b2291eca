"""Building the process-wide adapters (and their pooled clients) from the configuration."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Literal

import httpx
from opentelemetry import trace

from gateway.adapters import Adapter, adapter_class
from gateway.config import SourceConfig
from gateway.state.base import StateStore
from gateway.support.metrics import GatewayMetrics
from gateway.upstream.client import SourceClient

HttpTransport = Literal["aiohttp", "httpx"]


def build_adapter(
    config: SourceConfig,
    http_transport: HttpTransport = "aiohttp",
    *,
    metrics: GatewayMetrics | None = None,
    tracer: trace.Tracer | None = None,
    state: StateStore | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Adapter:
    """One adapter with its own pooled HTTP client, cache, concurrency bound, retries and
    circuit breaker, reporting to the app's `metrics` and `tracer` when given.

    `state` is the gateway's state store (the MakersHub adapter keeps its index there).
    `clock` times the read cache and the circuit breaker (tests pass a fake one).

    `http_transport` is "aiohttp" (the default, measured faster; see benchmarks/) or
    "httpx" (httpx's own transport, the benchmark's baseline).
    """
    cls = adapter_class(config.kind)
    transport: httpx.AsyncBaseTransport | None = None
    if http_transport == "httpx":
        limits = httpx.Limits(max_connections=config.max_concurrency)
        transport = httpx.AsyncHTTPTransport(limits=limits)
    elif http_transport != "aiohttp":
        raise ValueError(f"unknown http_transport {http_transport!r}")
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
        transport=transport,
        metrics=metrics,
        tracer=tracer,
        clock=clock,
    )
    adapter = cls(config, client)
    adapter.state = state
    return adapter


def build_adapters(
    configs: Iterable[SourceConfig],
    http_transport: HttpTransport = "aiohttp",
    *,
    metrics: GatewayMetrics | None = None,
    tracer: trace.Tracer | None = None,
    state: StateStore | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Adapter]:
    """Adapters by source name, in configuration order."""
    return {
        config.name: build_adapter(
            config, http_transport, metrics=metrics, tracer=tracer, state=state, clock=clock
        )
        for config in configs
    }


async def close_adapters(adapters: Iterable[Adapter]) -> None:
    for adapter in adapters:
        await adapter.client.aclose()
