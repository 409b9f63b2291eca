"""Probes with honest meanings (docs/operations.md), and who may read `/metrics`.

- `/healthz`, liveness: the process answers HTTP. Nothing else is checked, so an orchestrator
  restarts the process only when restarting it could help.
- `/readyz`, readiness of *this process*: its configuration is loaded, its state store
  answers a ping, and it is not shutting down. Upstream health is deliberately not part of
  it: every replica sees the same upstreams, so a vendor's outage would take the whole fleet
  out of rotation, while the gateway keeps serving the other sources (and stale copies).
  Open without a credential, so it names nothing about sources or upstreams.
- Per-source health is where a caller may see it: `sources { healthy }` (only the caller's
  sources) and the `invoice_gateway_source_up{source}` gauge on `/metrics`, refreshed by a
  scrape at most every `HEALTH_TTL` seconds (`SourceHealth`).
- `/metrics` has its own credential, `metrics.key` (`authorize_metrics`): API keys and JWTs
  of `clients`/`jwt` never open it.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import signal
import time
from collections.abc import Mapping
from typing import Any

from gateway.adapters import Adapter
from gateway.config import GatewayConfig
from gateway.errors import MetricsRefused, UpstreamError
from gateway.state.base import StateStore
from gateway.support.metrics import GatewayMetrics
from gateway.upstream.scope import RequestScope, request_scope
from gateway.web.access import is_loopback

logger = logging.getLogger("invoice_gateway.probes")
PING_TIMEOUT = 2.0  # the state store's answer to a readiness ping
CHECK_TIMEOUT = 5.0  # one source's health check
HEALTH_TTL = 10.0  # a scrape reuses source checks younger than this


def authorize_metrics(config: GatewayConfig, authorization: str | None, peer: str | None) -> None:
    """Let a `/metrics` request through, or raise `MetricsRefused`.

    With `metrics.key`: exactly that bearer key. Without it: only where the gateway has no
    credentials at all (an open gateway, where metrics reveal nothing a caller cannot
    query) and the caller is on loopback or `allow_anonymous` is set; a gateway with
    `clients` or `jwt` and no `metrics.key` serves `/metrics` to nobody.
    """
    key = config.metrics.key
    if key is not None:
        scheme, _, given = (authorization or "").partition(" ")
        expected = key.get_secret_value().encode()
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected):
            return
        raise MetricsRefused(
            401, "UNAUTHENTICATED",
            "/metrics needs the metrics key: 'Authorization: Bearer <metrics.key>'",
        )
    if config.has_credentials:
        raise MetricsRefused(403, "FORBIDDEN",
                             "/metrics is off: this gateway has client credentials but no "
                             "metrics.key (API keys and JWTs do not open /metrics)")
    if config.allow_anonymous or is_loopback(peer):
        return
    raise MetricsRefused(401, "UNAUTHENTICATED",
                         "without a metrics.key, /metrics is served only to loopback addresses")


def find_server() -> Any | None:
    """The uvicorn server running this app, if any: uvicorn installs its `handle_exit` as
    the SIGTERM handler while it serves, and sets `should_exit` once a shutdown begins."""
    handler = signal.getsignal(signal.SIGTERM)
    server = getattr(handler, "__self__", None)
    return server if hasattr(server, "should_exit") else None


def draining(state: Any) -> bool:
    """Whether this process is shutting down (no new work should be sent to it)."""
    server = getattr(state, "server", None)
    return bool(getattr(state, "draining", False) or getattr(server, "should_exit", False))


async def readiness(state: Any) -> tuple[bool, dict[str, str]]:
    """This process's readiness and its checks, each named with a word (no detail: the
    answer is public). A state store that does not answer is logged with its reason."""
    config: GatewayConfig | None = getattr(state, "config", None)
    store: StateStore | None = getattr(state, "store", None)
    checks = {"config": "ok" if config is not None else "not loaded",
              "state": "not started" if store is None else "ok",
              "draining": "yes" if draining(state) else "no"}
    if store is not None:
        try:
            async with asyncio.timeout(PING_TIMEOUT):
                await store.ping()
        except Exception as exc:  # any backend's failure: the probe only says "no"
            checks["state"] = "unreachable"
            logger.warning("readiness: the state store did not answer a ping: %s",
                           type(exc).__name__ if isinstance(exc, TimeoutError) else exc)
    ready = checks == {"config": "ok", "state": "ok", "draining": "no"}
    return ready, checks


class SourceHealth:
    """Each source's health for `/metrics`: one authenticated request per source (no
    retries, no stale copies), all at once, at most every `ttl` seconds however many
    scrapers ask; the result lands in `invoice_gateway_source_up`."""

    def __init__(self, metrics: GatewayMetrics, ttl: float = HEALTH_TTL) -> None:
        self.metrics = metrics
        self.ttl = ttl
        self.up: dict[str, bool] = {}
        self._checked_at: float | None = None
        self._lock = asyncio.Lock()

    async def refresh(self, adapters: Mapping[str, Adapter]) -> dict[str, bool]:
        async with self._lock:
            now = time.monotonic()
            if self._checked_at is None or now - self._checked_at >= self.ttl:
                with request_scope(RequestScope(resilient=False)):
                    up = await asyncio.gather(*(_up(a) for a in adapters.values()))
                self.up = dict(zip(adapters, up, strict=True))
                for name, ok in self.up.items():
                    self.metrics.source_up.labels(name).set(1 if ok else 0)
                self._checked_at = time.monotonic()
        return self.up


async def _up(adapter: Adapter) -> bool:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await adapter.check()
    except (UpstreamError, TimeoutError):
        return False
    return True
