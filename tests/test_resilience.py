"""Upstream resilience: retries, Retry-After within the budget, idempotent-only write
retries, the circuit breaker, stale-if-error and the request deadline; all over real HTTP
against the simulators, with their own request counters as the witness."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.errors import UpstreamUnavailable
from tests.conftest import FakeClock, request_counts, sim_control, zero_counts

CLOUD_INVOICES = '{ invoices(first: 3, filter: {sources: ["cloud"]}) { nodes { id number } } }'
ERP_INVOICES = '{ invoices(first: 3, filter: {sources: ["erp"]}) { nodes { id } } }'


def calls(simulators, kind: str, route: str) -> int:
    return request_counts(simulators)[kind].get(route, 0)


def fault(simulators, kind: str, **body) -> None:
    sim_control(simulators.running[kind], "POST", "/_sim/faults", body)


async def test_reads_are_retried_on_503_and_dropped_connections(make_gateway, simulators):
    gateway = await make_gateway()
    zero_counts(simulators)
    fault(simulators, "cloudbilling", mode="503", times=1, path="/invoices")
    fault(simulators, "cloudbilling", mode="drop", times=1, path="/invoices")
    data = await gateway.data(CLOUD_INVOICES)
    assert len(data["invoices"]["nodes"]) == 3
    assert calls(simulators, "cloudbilling", "GET /invoices") == 3, "two failures, one success"


async def test_500_and_malformed_are_not_retried(make_gateway, simulators):
    gateway = await make_gateway()
    zero_counts(simulators)
    fault(simulators, "cloudbilling", mode="500", times=1, path="/invoices")
    body = await gateway.query(CLOUD_INVOICES)
    assert body["errors"][0]["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
    assert calls(simulators, "cloudbilling", "GET /invoices") == 1


async def test_no_retries_when_configured_off(make_gateway, simulators):
    gateway = await make_gateway(retries=0)
    zero_counts(simulators)
    fault(simulators, "cloudbilling", mode="503", times=1, path="/invoices")
    body = await gateway.query(CLOUD_INVOICES)
    assert body["errors"][0]["extensions"] == {
        "code": "UPSTREAM_UNAVAILABLE", "source": "cloud", "status": 503}
    assert calls(simulators, "cloudbilling", "GET /invoices") == 1


async def test_retry_after_is_honoured_within_the_budget(make_gateway, simulators):
    gateway = await make_gateway(timeout=5)
    zero_counts(simulators)
    fault(simulators, "cloudbilling", mode="429", times=1, path="/invoices", retry_after=1)
    started = time.monotonic()
    data = await gateway.data(CLOUD_INVOICES)
    assert time.monotonic() - started >= 1.0, "waited for Retry-After"
    assert len(data["invoices"]["nodes"]) == 3
    assert calls(simulators, "cloudbilling", "GET /invoices") == 2


async def test_retry_after_beyond_the_budget_answers_at_once(make_gateway, simulators):
    gateway = await make_gateway(timeout=0.5)
    zero_counts(simulators)
    fault(simulators, "cloudbilling", mode="429", times=1, path="/invoices", retry_after=30)
    body = await gateway.query(CLOUD_INVOICES)
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "UPSTREAM_RATE_LIMITED"
    assert error["extensions"]["retryAfter"] == 30
    assert calls(simulators, "cloudbilling", "GET /invoices") == 1


async def test_writes_are_retried_only_with_an_idempotency_key(make_adapter, simulators):
    adapter = make_adapter("cloudbilling", retries=2)
    zero_counts(simulators)
    fault(simulators, "cloudbilling", mode="503", times=1, path="/customers")
    body = {"name": "Retry Ltd", "email": "ap@retry.example"}
    with pytest.raises(UpstreamUnavailable):
        await adapter.client.send_json("POST", "/customers", body)
    assert calls(simulators, "cloudbilling", "POST /customers") == 1, "a plain write: once"
    fault(simulators, "cloudbilling", mode="503", times=1, path="/customers")
    created = await adapter.client.send_json("POST", "/customers", body, idempotent=True)
    assert created["data"]["name"] == "Retry Ltd"
    assert calls(simulators, "cloudbilling", "POST /customers") == 3


async def test_breaker_opens_stops_calling_and_closes_after_recovery(make_gateway, simulators):
    clock = FakeClock()  # the breaker's open spell passes when the test says, not by sleeping
    gateway = await make_gateway(retries=0, breaker={"failures": 3, "open_seconds": 2},
                                 clock=clock)
    zero_counts(simulators)
    fault(simulators, "makini", mode="503", times=1000, path="/invoices")
    for _ in range(8):
        body = await gateway.query(ERP_INVOICES)
        assert body["errors"][0]["extensions"]["source"] == "erp"
        assert body["errors"][0]["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
    assert calls(simulators, "makini", "GET /api/invoices") == 3, "calls stop once open"
    assert "circuit breaker open" in body["errors"][0]["message"]
    metrics = (await gateway.http.get("/metrics")).text
    assert 'invoice_gateway_breaker_open{source="erp"} 1.0' in metrics
    assert 'invoice_gateway_breaker_open{source="cloud"} 0.0' in metrics

    clock.advance(1.9)  # still open
    await gateway.query(ERP_INVOICES)
    assert calls(simulators, "makini", "GET /api/invoices") == 3
    clock.advance(0.2)  # half-open: one probe, still failing, opens again
    await gateway.query(ERP_INVOICES)
    await gateway.query(ERP_INVOICES)
    assert calls(simulators, "makini", "GET /api/invoices") == 4

    sim_control(simulators.running["makini"], "DELETE", "/_sim/faults")
    clock.advance(2.1)
    for _ in range(3):
        data = await gateway.data(ERP_INVOICES)
        assert len(data["invoices"]["nodes"]) == 3
    assert calls(simulators, "makini", "GET /api/invoices") == 7, "closed: every call goes out"
    metrics = (await gateway.http.get("/metrics")).text
    assert 'invoice_gateway_breaker_open{source="erp"} 0.0' in metrics


async def test_stale_copy_served_with_a_warning_when_a_read_fails(make_gateway, simulators):
    # Real expiry on the real clock (short): the end-to-end check that cached reads age.
    gateway = await make_gateway(cache_ttl=0.2, stale_ttl=60)
    fresh = await gateway.data(CLOUD_INVOICES)
    fault(simulators, "cloudbilling", mode="503", times=1000, path="/invoices")
    await asyncio.sleep(0.3)
    body = await gateway.query(CLOUD_INVOICES)
    assert "errors" not in body
    assert body["data"] == fresh
    (warning,) = body["extensions"]["warnings"]
    assert warning["source"] == "cloud" and warning["code"] == "STALE_DATA"
    assert 0.2 <= warning["ageSeconds"] < 60
    metrics = (await gateway.http.get("/metrics")).text
    assert 'invoice_gateway_cache_requests_total{result="stale",source="cloud"} 1.0' in metrics


async def test_no_stale_copy_beyond_stale_ttl(make_gateway, simulators):
    gateway = await make_gateway(cache_ttl=0.1, stale_ttl=0.3)
    await gateway.data(CLOUD_INVOICES)
    fault(simulators, "cloudbilling", mode="503", times=1000, path="/invoices")
    await asyncio.sleep(0.4)
    body = await gateway.query(CLOUD_INVOICES)
    assert body["errors"][0]["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
    assert "warnings" not in body.get("extensions", {})


async def test_one_deadline_per_request_bounds_a_slow_source(make_gateway, simulators):
    # A deadline far below the slow source's latency, and far above what the other sources'
    # reads take on a loaded 2-core machine (0.5 s was not: their reads timed out too).
    gateway = await make_gateway(timeout=30, top={"request_timeout": 1.5})
    sim_control(simulators.running["cloudbilling"], "PUT", "/_sim/latency", {"ms": 8000})
    started = time.monotonic()
    body = await gateway.query("{ invoices(first: 500) { nodes { source } } }")
    elapsed = time.monotonic() - started
    assert elapsed < 5, f"an 8 s source held the request {elapsed:.1f}s"
    (error,) = body["errors"]
    assert error["extensions"]["source"] == "cloud"
    assert error["extensions"]["code"] == "UPSTREAM_TIMEOUT"
    assert {node["source"] for node in body["data"]["invoices"]["nodes"]} == {"erp", "billing"}

