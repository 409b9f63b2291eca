"""One failing source never sinks the others: partial data plus errors naming source and code."""

from __future__ import annotations

import asyncio

import pytest

from gateway.adapters import Capability
from gateway.registry import KINDS
from tests.conftest import FakeClock, request_counts, sim_control, zero_counts

DEMO_NAMES = KINDS.demo_names()  # kind -> its source's name in the demo
# Kinds whose lists read the upstream (MakersHub lists its index of seen ids, empty here).
LISTABLE = [kind for kind in KINDS
            if Capability.LIST_INVOICES in KINDS[kind].capabilities and kind != "makershub"]

CODES = [("503", "UPSTREAM_UNAVAILABLE", 503), ("429", "UPSTREAM_RATE_LIMITED", 429),
         ("malformed", "UPSTREAM_BAD_RESPONSE", 200), ("hang", "UPSTREAM_TIMEOUT", None)]


@pytest.mark.parametrize("kind", LISTABLE)
@pytest.mark.parametrize(("mode", "code", "status"), CODES)
async def test_list_survives_one_failing_source(make_gateway, simulators, kind, mode, code, status):
    gateway = await make_gateway(timeout=1.5)  # a shared 2-core machine can be slow
    running = simulators.running[kind]
    sim_control(running, "POST", "/_sim/faults", {"mode": mode, "times": 1000, "path": "/invoices"})
    body = await gateway.query("{ invoices(first: 500) { totalCount nodes { source } } }")
    name = DEMO_NAMES[kind]
    sources = {node["source"] for node in body["data"]["invoices"]["nodes"]}
    assert name not in sources
    assert sources == {DEMO_NAMES[kind] for kind in LISTABLE} - {name}
    assert body["data"]["invoices"]["totalCount"] is None
    (error,) = body["errors"]
    assert error["extensions"]["source"] == name
    assert error["extensions"]["code"] == code
    assert error["extensions"].get("status") == status
    assert error["path"] == ["invoices"]
    assert "token" not in error["message"].lower()


async def test_relation_failure_nulls_only_its_field(gateway, simulators):
    running = simulators.running["invoicematic"]
    sim_control(running, "POST", "/_sim/faults", {"mode": "500", "times": 1000, "path": "/customers"})
    # `phone` is not in the invoices' embedded customer: the customers must be read
    body = await gateway.query("""{ invoices(first: 3, filter: {sources: ["billing"]}) {
        nodes { number total { amount } customer { name phone } } } }""")
    nodes = body["data"]["invoices"]["nodes"]
    assert len(nodes) == 3
    assert all(node["number"] and node["customer"] is None for node in nodes)
    assert {e["extensions"]["code"] for e in body["errors"]} == {"UPSTREAM_UNAVAILABLE"}
    assert all(e["path"][-1] == "customer" for e in body["errors"])


async def test_unauthorized_source_reports_code_without_token(make_gateway):
    gateway = await make_gateway(token="leaked-if-you-see-me")
    body = await gateway.query("{ invoices(first: 5) { nodes { id } } }")
    assert body["data"]["invoices"]["nodes"] == []
    codes = {(e["extensions"]["source"], e["extensions"]["code"]) for e in body["errors"]}
    assert codes == {(DEMO_NAMES[kind], "UPSTREAM_UNAUTHORIZED") for kind in LISTABLE}
    assert "leaked-if-you-see-me" not in str(body)


async def test_read_cache_expires_and_coalesces(make_gateway, simulators):
    # The cache's clock is the test's: a loaded machine cannot make the second read miss,
    # and expiry needs no sleeping. (Real expiry on the real clock: test_resilience's
    # stale-copy tests.)
    clock = FakeClock()
    gateway = await make_gateway(cache_ttl=2, clock=clock)
    query = '{ invoices(first: 5, filter: {sources: ["cloud"]}) { nodes { id } } }'
    zero_counts(simulators)
    first = await gateway.data(query)
    clock.advance(1.9)
    assert await gateway.data(query) == first
    assert sum(request_counts(simulators)["cloudbilling"].values()) == 1, "second read cached"
    clock.advance(0.2)
    await gateway.data(query)
    assert sum(request_counts(simulators)["cloudbilling"].values()) == 2, "expired after ttl"

    running = simulators.running["cloudbilling"]
    sim_control(running, "PUT", "/_sim/latency", {"ms": 150})
    clock.advance(2.1)
    zero_counts(simulators)
    results = await asyncio.gather(*(gateway.data(query) for _ in range(5)))
    assert all(result == first for result in results)
    assert sum(request_counts(simulators)["cloudbilling"].values()) == 1, "5 concurrent -> 1 call"
