"""Building the process-wide adapters (and their pooled clients) from the configuration."""

from __future__ import annotations

from collections.abc import Iterable

from gateway.adapters import Adapter, adapter_class
from gateway.config import SourceConfig
from gateway.http import SourceClient


def build_adapter(config: SourceConfig) -> Adapter:
    """One adapter with its own pooled HTTP client, cache and concurrency bound."""
    cls = adapter_class(config.kind)
    client = SourceClient(
        config.name,
        config.base_url,
        cls.headers(config),
        timeout=config.timeout,
        max_concurrency=config.max_concurrency,
        cache_ttl=config.cache_ttl,
        cache_size=config.cache_size,
    )
    return cls(config, client)


def build_adapters(configs: Iterable[SourceConfig]) -> dict[str, Adapter]:
    """Adapters by source name, in configuration order."""
    return {config.name: build_adapter(config) for config in configs}


async def close_adapters(adapters: Iterable[Adapter]) -> None:
    for adapter in adapters:
        await adapter.client.aclose()
