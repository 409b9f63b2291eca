"""What holds for writes to every source: idempotency (also across a restart), the
gateway's own checks before any request, upstream failures as GraphQL errors, no retries."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from gateway.app import create_app, demo_config
from gateway.registry import KINDS
from tests.conftest import GatewayClient, sim_control, zero_counts
from tests.writing import (
    codes,
    fields,
    first_id,
    mutate,
    mutate_raw,
    refused,
    upstream_total,
    upstream_writes,
    written,
)

DEMO_NAMES = KINDS.demo_names()  # kind -> its source's name in the demo

pytestmark = pytest.mark.usefixtures("fresh_simulators")

LINE = {"description": "Widget", "quantity": "2", "unitPrice": "10.00"}


async def creating(gateway, kind):
    """(mutation, input, upstream route) of one creating write each source can do."""
    if kind == "makershub":
        return "createInvoice", {"source": "ap", "number": "B-1", "lineItems": [LINE]}, "POST /v1/invoices"
    if kind == "makini":
        return "createCustomer", {"source": "erp", "name": "Keyed Customer"}, "POST /api/customers"
    if kind == "invoicematic":
        customer = await first_id(gateway, "customers", "billing")
        return "createInvoice", {"source": "billing", "customerId": customer, "number": "K-1",
                                 "issueDate": "2026-11-02", "lineItems": [LINE]}, "POST /api/invoices"
    customer = await first_id(gateway, "customers", "cloud")
    return "createInvoice", {"source": "cloud", "customerId": customer, "lineItems": [LINE]}, "POST /invoices"


@asynccontextmanager
async def gateway_with_state(simulators, state: str) -> AsyncIterator[GatewayClient]:
    """A gateway process of its own (lifespan opened and closed here) on a state file."""
    config = demo_config(simulators, cache_ttl=0).model_copy(update={"state": state})
    app = create_app(config)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gw"
    ) as http:
        yield GatewayClient(http, app)


@pytest.mark.parametrize("kind", list(DEMO_NAMES))
async def test_an_idempotency_key_survives_a_gateway_restart(simulators, tmp_path, kind):
    state = f"sqlite:///{tmp_path / 'state.sqlite3'}"
    async with gateway_with_state(simulators, state) as first:
        name, input, route = await creating(first, kind)
        input = {**input, "idempotencyKey": f"restart-{kind}"}
        zero_counts(simulators)
        made = await written(first, name, input)
    async with gateway_with_state(simulators, state) as second:
        again = await written(second, name, input)
        assert again == made
        assert upstream_writes(simulators, kind) == {route: 1}
        reused = await refused(second, name, {**input, "lineItems": [LINE, LINE]}
                               if "lineItems" in input else {**input, "name": "Other"})
        assert codes(reused) == ["IDEMPOTENCY_KEY_REUSED"]
    assert upstream_writes(simulators, kind) == {route: 1}


@pytest.mark.parametrize("kind", list(DEMO_NAMES))
async def test_concurrent_retries_with_one_key_make_one_record(gateway, simulators, kind):
    name, input, route = await creating(gateway, kind)
    input = {**input, "idempotencyKey": f"race-{kind}"}
    zero_counts(simulators)
    payloads = await asyncio.gather(*(mutate(gateway, name, input) for _ in range(3)))
    assert upstream_writes(simulators, kind) == {route: 1}
    made = [p for p in payloads if not p["userErrors"]]
    assert made, payloads
    for payload in payloads:
        # a retry arriving while the first runs is told so; it never writes a second time
        assert payload["userErrors"] == [] or codes(payload["userErrors"]) == ["CONFLICT"]


@pytest.mark.parametrize("kind", list(DEMO_NAMES))
async def test_a_write_without_a_key_is_not_deduplicated(gateway, simulators, kind):
    name, input, route = await creating(gateway, kind)
    zero_counts(simulators)
    first = await written(gateway, name, input)
    # (Invoicematic refuses a second invoice with the same number on its own)
    second = await written(gateway, name, {**input, "number": "K-2"} if kind == "invoicematic" else input)
    assert first != second
    assert upstream_writes(simulators, kind) == {route: 2}


@pytest.mark.parametrize("kind", list(DEMO_NAMES))
async def test_an_upstream_503_is_a_graphql_error_and_only_upstream_idempotent_writes_are_retried(
    gateway, simulators, kind
):
    name, input, route = await creating(gateway, kind)
    input = {**input, "idempotencyKey": f"fail-{kind}"}
    path = route.split(" ", 1)[1]
    # Only Invoicematic honours the key upstream, so only its write may be repeated by the
    # gateway (`retries`, default 2); elsewhere one attempt, the key guarding the gateway.
    attempts = 3 if kind == "invoicematic" else 1
    sim_control(simulators.running[kind], "POST", "/_sim/faults",
                {"mode": "503", "times": attempts, "path": path})
    zero_counts(simulators)
    body = await mutate_raw(gateway, name, input)
    assert body["data"][name] is None
    (error,) = body["errors"]
    assert error["extensions"]["source"] == DEMO_NAMES[kind]
    assert error["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
    assert error["extensions"]["status"] == 503
    assert upstream_writes(simulators, kind) == {route: attempts}
    # the failed claim was released: the retry the client chooses to make goes through
    assert (await mutate(gateway, name, input))["userErrors"] == []
    assert upstream_writes(simulators, kind) == {route: attempts + 1}


@pytest.mark.parametrize("source", list(DEMO_NAMES.values()))
async def test_bad_input_is_refused_before_any_request(gateway, simulators, source):
    other = "cloud" if source != "cloud" else "erp"
    foreign = await first_id(gateway, "customers", other)
    zero_counts(simulators)
    negative = await refused(gateway, "createInvoice", {
        "source": source, "lineItems": [LINE, {**LINE, "quantity": "-1"}, {**LINE, "unitPrice": "-3"}],
    })
    assert fields(negative) == [["input", "lineItems", "1", "quantity"],
                                ["input", "lineItems", "2", "unitPrice"]]
    assert set(codes(negative)) == {"VALIDATION_FAILED"}
    empty = await refused(gateway, "createInvoice", {"source": source, "lineItems": []})
    assert fields(empty) == [["input", "lineItems"]]
    if source != "ap":
        wrong_source = await refused(gateway, "createInvoice", {
            "source": source, "customerId": foreign, "lineItems": [LINE]})
        assert fields(wrong_source) == [["input", "customerId"]]
        assert other in wrong_source[0]["message"]
    kind = next(kind for kind, name in DEMO_NAMES.items() if name == source)
    total = upstream_total(simulators, kind)
    assert total == 0


@pytest.mark.parametrize("source", ["erp", "cloud"])
async def test_an_unknown_currency_is_refused_before_any_request(gateway, simulators, source):
    zero_counts(simulators)
    errors = await refused(gateway, "createInvoice", {
        "source": source, "currency": "XYZ", "lineItems": [LINE]})
    assert errors == [{"field": ["input", "currency"], "code": "VALIDATION_FAILED",
                       "message": "'XYZ' is not an ISO 4217 currency code"}]
    assert sum(upstream_total(simulators, kind) for kind in DEMO_NAMES) == 0


async def test_unknown_source_and_malformed_ids(gateway, simulators):
    zero_counts(simulators)
    unknown = await refused(gateway, "createCustomer", {"source": "nope", "name": "A"})
    assert fields(unknown) == [["input", "source"]] and "erp" in unknown[0]["message"]
    forged = await refused(gateway, "deleteInvoice", {"id": "not-an-id"})
    assert fields(forged) == [["input", "id"]] and codes(forged) == ["VALIDATION_FAILED"]
    customer = await first_id(gateway, "customers", "cloud")
    zero_counts(simulators)
    wrong_type = await refused(gateway, "updateInvoice", {"id": customer, "number": "1"})
    assert fields(wrong_type) == [["input", "id"]]
    assert sum(upstream_total(simulators, kind) for kind in DEMO_NAMES) == 0


async def test_a_write_drops_the_cached_reads_of_its_source(make_gateway, simulators):
    gateway = await make_gateway(cache_ttl=300)
    customer = await first_id(gateway, "customers", "cloud")
    query = "query($id: ID!) { customer(id: $id) { name } }"
    assert (await gateway.data(query, {"id": customer}))["customer"]["name"]
    await written(gateway, "updateCustomer", {"id": customer, "name": "Renamed Inc."})
    assert (await gateway.data(query, {"id": customer}))["customer"]["name"] == "Renamed Inc."


async def test_sources_list_their_write_capabilities(gateway):
    data = await gateway.data("{ sources { name capabilities } }")
    caps = {source["name"]: set(source["capabilities"]) for source in data["sources"]}
    assert {"invoices.create", "invoices.update", "invoices.document"} <= caps["ap"]
    assert "payments.create" not in caps["ap"] and "invoices.delete" not in caps["ap"]
    assert "payments.create" in caps["billing"] and "invoices.status" not in caps["billing"]
    assert {"invoices.status", "invoices.delete"} <= caps["cloud"]
    assert "payments.create" not in caps["cloud"]
    assert "invoices.delete" not in caps["erp"] and "invoices.status" in caps["erp"]


async def test_an_unfinished_claim_is_conflict_until_its_lease_ends_then_reconciled(
    make_gateway, simulators, tmp_path
):

    path = tmp_path / "state.sqlite3"
    gateway = await make_gateway(top={"state": f"sqlite:///{path}"})
    name, input, _route = await creating(gateway, "cloudbilling")
    input = {**input, "idempotencyKey": "crashed"}
    made = await written(gateway, name, input)

    def unfinish(lease_left: float) -> None:
        # what a gateway that stopped between its upstream write and recording the result
        # leaves: the claim, its reference and its owner's lease
        with sqlite3.connect(path) as db:
            db.execute("UPDATE idempotency SET result = NULL, owner = 'dead', lease_until = ?",
                       (time.time() + lease_left,))

    unfinish(60)
    zero_counts(simulators)
    running = await refused(gateway, name, input)
    assert codes(running) == ["CONFLICT"] and fields(running) == [["input", "idempotencyKey"]]
    assert upstream_writes(simulators, "cloudbilling") == {}
    unfinish(-1)
    # The lease ran out: the claim is reconciled (the record the dead owner made is found
    # by the reference it sent), never taken over by a second create.
    assert (await written(gateway, name, input)) == made
    assert (await written(gateway, name, input)) == made
    assert upstream_writes(simulators, "cloudbilling") == {}


async def test_a_payment_with_a_key_is_recorded_once(gateway, simulators):
    invoice = await first_id(gateway, "invoices", "billing", status=["OPEN"])
    input = {"invoiceId": invoice, "amount": "1.00", "date": "2026-11-05", "number": "PAY-K-1",
             "idempotencyKey": "pay-1"}
    zero_counts(simulators)
    first = (await written(gateway, "recordPayment", input))["payment"]
    again = (await written(gateway, "recordPayment", input))["payment"]
    assert again["id"] == first["id"]
    assert upstream_writes(simulators, "invoicematic") == {"POST /api/payments": 1}
