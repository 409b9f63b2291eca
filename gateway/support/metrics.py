"""Prometheus metrics of one gateway app (contract "Observability (v2)").

Each app owns its `CollectorRegistry`, so several apps in one process (the test suite)
never share counters, and nothing lives at module level. Labels carry source names,
route templates (ids replaced by `{id}`), statuses and operation names: never a token,
a query string or a credential-bearing URL.
"""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
_ID_SEGMENT = re.compile(r"^(\d+|[0-9a-fA-F-]{16,}|(?=[^/]*\d)[A-Za-z0-9_.~%-]{6,})$")
_OPERATION = re.compile(r"[^A-Za-z0-9_]")


def route_template(path: str) -> str:
    """`/v1/invoices/48213` -> `/v1/invoices/{id}`: bounded label values."""
    return "/".join("{id}" if _ID_SEGMENT.match(part) else part for part in path.split("/"))


MAX_OPERATIONS = 200  # distinct operation labels kept; later names count as "other"


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.upstream_requests = Counter(
            "invoice_gateway_upstream_requests",
            "Requests sent to upstreams, by source, route template and HTTP status "
            "(or timeout / connection_error).",
            ["source", "route", "status"],
            registry=self.registry,
        )
        self.upstream_seconds = Histogram(
            "invoice_gateway_upstream_request_seconds",
            "Duration of upstream requests.",
            ["source", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.cache_requests = Counter(
            "invoice_gateway_cache_requests",
            "Upstream reads asked of the read cache, by result (hit, miss, stale).",
            ["source", "result"],
            registry=self.registry,
        )
        self.early_reads = Counter(
            "invoice_gateway_early_reads",
            "Reads a repeated request started as soon as it was let in "
            "(gateway.upstream.plugins.early), "
            "by source and outcome (used: joined by the request; unused: cancelled).",
            ["source", "outcome"],
            registry=self.registry,
        )
        self.breaker_open = Gauge(
            "invoice_gateway_breaker_open",
            "1 while a source's circuit breaker is open or half-open, else 0.",
            ["source"],
            registry=self.registry,
        )
        self.source_up = Gauge(
            "invoice_gateway_source_up",
            "1 when the source answered its last health check (one authenticated request, "
            "made by a scrape of /metrics at most every 10 s), else 0.",
            ["source"],
            registry=self.registry,
        )
        self.graphql_requests = Counter(
            "invoice_gateway_graphql_requests",
            "GraphQL requests by operation name and outcome "
            "(ok, partial, error, unauthenticated, limited).",
            ["operation", "outcome"],
            registry=self.registry,
        )

        self._operations: set[str] = set()

    def operation_label(self, name: str | None) -> str:
        """A client-chosen operation name as a safe label; the number of distinct labels is
        bounded so that a client inventing names cannot grow the registry without end."""
        if not name:
            return "anonymous"
        label = _OPERATION.sub("_", name)[:64]
        if label not in self._operations:
            if len(self._operations) >= MAX_OPERATIONS:
                return "other"
            self._operations.add(label)
        return label

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
