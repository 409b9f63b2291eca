"""The state store made unavailable (issue 18, item 3): a PostgreSQL of the test's own,
stopped and started under a running gateway. Every answer is coded (STATE_UNAVAILABLE
naming the store), nothing hangs, what needs no state keeps working, webhooks ask to be
sent again (503), a claim that never reached the store strands nothing, and everything
works again once the database is back, with no restart."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.conftest import makershub_delivery, zero_counts
from tests.own_postgres import OwnPostgres
from tests.writing import first_id, mutate_raw, upstream_writes, written

pytestmark = pytest.mark.usefixtures("fresh_simulators")

LINE = {"description": "Widget", "quantity": "2", "unitPrice": "10.00"}
INVOICES = "query($s: [String!]) { invoices(first: 5, filter: {sources: $s}) { nodes { id } } }"


@pytest.fixture
def postgres() -> Iterator[OwnPostgres]:
    server = OwnPostgres()
    server.start()
    yield server
    server.remove()


async def test_a_state_store_outage_is_coded_bounded_and_recovers(make_gateway, simulators,
                                                                   postgres):
    gateway = await make_gateway(top={"state": postgres.url, "state_timeout": 1})
    customer = await first_id(gateway, "customers", "cloud")
    input = {"source": "cloud", "customerId": customer, "lineItems": [LINE],
             "idempotencyKey": "outage-1"}
    secret = next(b["webhook_secret"] for b in simulators.source_blocks()
                  if b["kind"] == "makershub")
    invoice_id = 48213

    postgres.stop()
    zero_counts(simulators)
    started = time.monotonic()
    listed = await gateway.query(INVOICES, {"s": ["ap", "erp"]})
    (error,) = listed["errors"]
    assert error["extensions"]["code"] == "STATE_UNAVAILABLE"
    assert error["extensions"]["source"] == "ap"
    assert f"127.0.0.1:{postgres.port}" in error["message"]
    assert listed["data"]["invoices"]["nodes"]  # Makini's invoices need no state
    # a lookup by id needs no state either
    makini = await first_id(gateway, "invoices", "erp")
    looked = await gateway.query("query($id: ID!) { invoice(id: $id) { id } }", {"id": makini})
    assert looked["data"]["invoice"]["id"] == makini and "errors" not in looked

    body, headers = makershub_delivery(secret, "Updated", invoice_id)
    webhook = await gateway.http.post("/webhooks/ap", content=body, headers=headers)
    assert webhook.status_code == 503 and webhook.headers["retry-after"]
    assert webhook.json()["code"] == "STATE_UNAVAILABLE"

    refused = await mutate_raw(gateway, "createInvoice", input)
    (error,) = refused["errors"]
    assert error["extensions"]["code"] == "STATE_UNAVAILABLE"
    assert error["extensions"]["source"] == "cloud"
    assert upstream_writes(simulators, "cloudbilling") == {}  # refused before any request
    assert time.monotonic() - started < 10  # four state calls, each bounded by 1 s + connect

    postgres.start()
    made = await written(gateway, "createInvoice", input)  # no CONFLICT: nothing stranded
    assert (await written(gateway, "createInvoice", input)) == made
    assert upstream_writes(simulators, "cloudbilling") == {"POST /invoices": 1}
    listed = await gateway.query(INVOICES, {"s": ["ap"]})
    assert "errors" not in listed
    webhook = await gateway.http.post("/webhooks/ap", content=body, headers=headers)
    assert webhook.status_code == 202
