"""Observability: /metrics agrees with the simulators' own counters, one JSON log line per
request with its X-Request-Id, and OpenTelemetry spans with traceparent sent upstream;
never a token, a secret or a query string in any of them."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.registry import KINDS
from gateway.support.metrics import route_template
from gateway.support.tracing import tracer_provider_from_env
from gateway.upstream.client import SourceClient
from gateway.upstream.scope import RequestScope, request_scope
from tests.conftest import request_counts, zero_counts

QUERIES = [
    "{ invoices(first: 120) { nodes { id customer { name } } } }",
    '{ invoices(first: 3, filter: {sources: ["billing"]}) { nodes { payments { id } } } }',
    '{ invoice(source: "ap", remoteId: "48213") { id vendor { name } } }',
    "{ vendors(first: 5) { nodes { name } } }",
    '{ invoices(first: 5, filter: {sources: ["cloud"]}) { nodes { customer { name } } } }',
]
KIND_OF = {name: kind for kind, name in KINDS.demo_names().items()}  # demo source -> kind


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """The samples of one metric from the Prometheus text format."""
    from prometheus_client.parser import text_string_to_metric_families

    found = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found.append((sample.labels, sample.value))
    return found


async def test_metrics_match_the_simulators_counters(make_gateway, simulators):
    gateway = await make_gateway()
    zero_counts(simulators)
    for query in QUERIES:
        await gateway.data(query)
    await gateway.query("{ nope }")
    response = await gateway.http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    upstream = samples(text, "invoice_gateway_upstream_requests_total")
    counts = request_counts(simulators)
    for source, kind in KIND_OF.items():
        ours = sum(v for labels, v in upstream if labels["source"] == source)
        assert ours == sum(counts[kind].values()) > 0, source
    cloud_lists = sum(v for labels, v in upstream
                      if labels["source"] == "cloud" and labels["route"] == "/invoices")
    assert cloud_lists == counts["cloudbilling"]["GET /invoices"]
    # The scrape checked each source's health (gateway.web.probes): MakersHub's check asks for
    # invoice 0, which it refuses with 400 once the token is accepted.
    checks = [labels for labels, _ in upstream if labels["status"] == "400"]
    assert checks == [{"source": "ap", "route": "/v1/invoices/{id}", "status": "400"}]
    assert {labels["status"] for labels, _ in upstream} <= {"200", "404", "400"}
    histogram = samples(text, "invoice_gateway_upstream_request_seconds_count")
    assert sum(v for _, v in histogram) == sum(v for _, v in upstream)
    cache = samples(text, "invoice_gateway_cache_requests_total")
    assert {labels["result"] for labels, _ in cache} <= {"hit", "miss", "stale"}
    graphql = {(labels["operation"], labels["outcome"]): v
               for labels, v in samples(text, "invoice_gateway_graphql_requests_total")}
    assert graphql[("anonymous", "ok")] == len(QUERIES)
    assert graphql[("anonymous", "error")] == 1
    assert samples(text, "invoice_gateway_breaker_open")
    assert "sim-token" not in text and "token" not in text.lower().replace("max_tokens", "")


def test_operation_labels_are_bounded():
    from gateway.support.metrics import MAX_OPERATIONS, GatewayMetrics

    metrics = GatewayMetrics()
    assert metrics.operation_label(None) == "anonymous"
    assert metrics.operation_label("Dash-board!") == "Dash_board_"
    labels = {metrics.operation_label(f"Op{i}") for i in range(MAX_OPERATIONS + 50)}
    assert "other" in labels and len(labels) == MAX_OPERATIONS


def test_route_templates_hide_ids():
    assert route_template("/v1/invoices/48213") == "/v1/invoices/{id}"
    assert route_template("/api/invoices/3f2a9c1e-77b1-4c0e-9a51-0d3c1f7e2b11") == (
        "/api/invoices/{id}")
    assert route_template("/api/v1/customers") == "/api/v1/customers"


async def test_one_json_log_line_per_request_with_request_id(make_gateway, caplog):
    key = "log-test-key-5f3a"
    gateway = await make_gateway(top={"clients": [{"name": "books", "key": key}]},
                                 token="sim-secret-never-logged")
    caplog.set_level(logging.INFO, logger="invoice_gateway.requests")
    response = await gateway.http.post(
        "/graphql", json={"query": "query Books { invoices(first: 2) { nodes { id } } }"},
        headers={"Authorization": f"Bearer {key}", "X-Request-Id": "req-42"})
    assert response.headers["x-request-id"] == "req-42"
    denied = await gateway.http.post("/graphql", json={"query": "{ sources { name } }"})
    generated = denied.headers["x-request-id"]
    assert len(generated) == 32
    lines = [json.loads(r.getMessage()) for r in caplog.records
             if r.name == "invoice_gateway.requests"]
    assert len(lines) == 2
    first, second = lines
    assert first["request_id"] == "req-42" and first["operation"] == "Books"
    assert first["client"] == "books" and first["status"] == 200
    assert first["sources"] == ["billing", "cloud", "erp"]
    assert first["error_codes"] == ["UPSTREAM_UNAUTHORIZED"]
    assert first["outcome"] == "partial" and first["duration_ms"] >= 0
    assert second["request_id"] == generated and second["status"] == 401
    assert second["outcome"] == "unauthenticated"
    assert key not in caplog.text and "sim-secret-never-logged" not in caplog.text


async def test_spans_for_operation_and_upstream_calls(make_gateway, simulators):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    gateway = await make_gateway(tracer_provider=provider, extra_sources=[])
    await gateway.data('query Dash { a: invoices(first: 2, filter: {sources: ["cloud"]}) '
                       '{ nodes { id } } b: invoices(first: 2, filter: {sources: ["erp"]}) '
                       '{ nodes { id } } }')
    spans = exporter.get_finished_spans()
    (server,) = [s for s in spans if s.name == "graphql Dash"]
    clients = [s for s in spans if s.parent is not None and s.parent.span_id ==
               server.context.span_id]
    assert {s.attributes["invoice_gateway.source"] for s in clients} == {"cloud", "erp"}
    assert all(s.context.trace_id == server.context.trace_id for s in clients)
    routes = {s.name for s in clients}
    assert "GET /invoices" in routes and "GET /api/invoices" in routes
    for span in spans:
        for value in (span.attributes or {}).values():
            assert "sim-token" not in str(value) and "?" not in str(value), (span.name, value)


class HeaderCatcher:
    """A tiny real HTTP server that remembers the headers of each request."""

    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.headers.append({k.lower(): v for k, v in self.headers.items()})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


async def test_traceparent_goes_upstream():
    catcher = HeaderCatcher()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    client = SourceClient("probe", catcher.url, {"Authorization": "Bearer t"}, cache_ttl=0,
                          tracer=tracer)
    try:
        with tracer.start_as_current_span("operation"), request_scope(RequestScope()):
            await client.get_json("/invoices/123", {"secret_param": "x"})
    finally:
        await client.aclose()
        catcher.server.shutdown()
    (headers,) = catcher.headers
    (span,) = [s for s in exporter.get_finished_spans() if s.name == "GET /invoices/{id}"]
    version, trace_id, span_id, flags = headers["traceparent"].split("-")
    assert version == "00" and int(flags, 16) & 1, "sampled"
    assert int(trace_id, 16) == span.context.trace_id
    assert int(span_id, 16) == span.context.span_id
    assert "secret_param" not in str(span.attributes)


def test_tracing_only_when_the_otlp_endpoint_is_set(monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    assert tracer_provider_from_env() is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    provider = tracer_provider_from_env()
    assert provider is not None
    assert provider.resource.attributes["service.name"] == "invoice-gateway"
    provider.shutdown()
