"""A repeated request's first reads start as soon as it is let in
(gateway.upstream.plugins.early).

Through the app with the simulators over real HTTP: the second identical request joins the
read it started early (counted as `used`), the upstream sees one read per request as
before, a plan is per caller, a read the request does not ask for is cancelled and its plan
forgotten, and a failing early read fails the request exactly as a late one would."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.upstream.plugins.early import STATE, EarlyReads, EarlyState, plan_key
from gateway.upstream.scope import RequestScope
from tests.conftest import request_counts, sim_control, zero_counts

QUERY = """{ invoices(first: 20, filter: {sources: ["billing"]}) {
  nodes { number total { amount currency } customer { name } } } }"""
BODY = json.dumps({"query": QUERY}).encode()
KEYS = {"finance": "finance-key-early-1", "ops": "ops-key-early-1"}
CLIENTS = [{"name": name, "key": key} for name, key in KEYS.items()]


def early(gateway: Any, outcome: str) -> float:
    value = gateway.app.state.metrics.registry.get_sample_value(
        "invoice_gateway_early_reads_total", {"source": "billing", "outcome": outcome})
    return value or 0.0


def plugin(gateway: Any) -> EarlyReads:
    [found] = [p for p in gateway.app.state.plugins if isinstance(p, EarlyReads)]
    return found


async def post(gateway: Any, client: str | None = None) -> dict[str, Any]:
    headers = {"content-type": "application/json"}
    if client is not None:
        headers["authorization"] = f"Bearer {KEYS[client]}"
    response = await gateway.http.post("/graphql", content=BODY, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_repeated_request_joins_the_read_it_started_early(make_gateway, simulators):
    gateway = await make_gateway(top={"early_reads": True})
    zero_counts(simulators)
    first = await post(gateway)
    assert early(gateway, "used") == 0  # nothing known of this body yet
    second = await post(gateway)
    assert early(gateway, "used") == 1
    assert second == first and not first.get("errors")
    # One read of the page per request, as without early reads: the resolver joined it.
    assert request_counts(simulators)["invoicematic"] == {"GET /api/invoices": 2}
    assert early(gateway, "unused") == 0


async def test_a_plan_is_the_callers_own(make_gateway, simulators):
    gateway = await make_gateway(top={"clients": CLIENTS, "early_reads": True})
    await post(gateway, "finance")
    await post(gateway, "ops")  # the same body from another caller: nothing started early
    assert early(gateway, "used") == 0
    await post(gateway, "ops")
    assert early(gateway, "used") == 1


async def test_an_early_read_not_asked_for_is_cancelled_and_its_plan_forgotten(
    make_gateway, simulators
):
    gateway = await make_gateway(top={"early_reads": True})
    expected = await post(gateway)
    plans = plugin(gateway)._plans
    key = plan_key("anonymous", "POST", BODY)
    assert list(plans) == [key]
    # As if the plan had changed since it was learned: one more read than the request makes.
    plans[key] = (*plans[key], ("billing", "/api/customers", (("limit", "all"),)))
    assert await post(gateway) == expected
    assert (early(gateway, "used"), early(gateway, "unused")) == (1, 1)
    assert key not in plans  # forgotten; learned again by the next identical request
    await post(gateway)
    assert key in plans and early(gateway, "used") == 1


async def test_a_failing_early_read_fails_the_request_as_a_late_one(make_gateway, simulators):
    gateway = await make_gateway(retries=0, stale_ttl=0, top={"early_reads": True})
    late = await make_gateway(retries=0, stale_ttl=0, top={"early_reads": False})
    await post(gateway)
    await post(late)
    running = simulators.running["invoicematic"]
    answers = []
    for client in (gateway, late):
        sim_control(running, "POST", "/_sim/faults", {"mode": "500", "times": 1,
                                                     "path": "/invoices"})
        answers.append(await post(client))
    assert early(gateway, "used") == 1 and early(late, "used") == 0
    assert answers[0] == answers[1]
    assert answers[0]["errors"][0]["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"


@pytest.mark.parametrize("top", [{"early_reads": False}, {}], ids=["off", "default"])
async def test_switched_off_nothing_is_started_early(make_gateway, simulators, top):
    gateway = await make_gateway(top=top)
    for _ in range(2):
        await post(gateway)
    assert early(gateway, "used") == 0
    assert not any(isinstance(p, EarlyReads) for p in gateway.app.state.plugins)


def test_a_read_with_an_unhashable_parameter_is_never_planned():
    scope, early_reads = RequestScope(), EarlyReads()
    state = scope.fill(STATE, EarlyState(b"key"))
    assert early_reads.joined(scope, ("billing", "/api/invoices", (("ids", [1, 2]),))) is None
    assert state.first_reads == []
    early_reads.joined(scope, ("billing", "/api/invoices", (("limit", 100),)))
    assert state.first_reads == [("billing", "/api/invoices", (("limit", 100),))]
