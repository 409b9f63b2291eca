"""Writes to Invoicematic through the gateway: cents, Crater's create body, Idempotency-Key,
payments that settle invoices."""

from __future__ import annotations

import httpx
import pytest

from gateway.simulators.runner import SimulatorGroup
from tests.conftest import sim_control, zero_counts
from tests.writing import (
    codes,
    fields,
    first_id,
    mutate_raw,
    read_customer,
    read_invoice,
    refused,
    upstream_total,
    upstream_writes,
    written,
)

pytestmark = pytest.mark.usefixtures("fresh_simulators")

LINES = [
    {"description": "Web Development", "quantity": "1.5", "unitPrice": "150.00", "taxRate": "20"},
    {"description": "Cloud Hosting", "quantity": "3", "unitPrice": "49.00"},
]


async def create(gateway, **extra):
    customer = await first_id(gateway, "customers", "billing")
    payload = await written(gateway, "createInvoice", {
        "source": "billing", "customerId": customer, "number": "INV-W-0001",
        "issueDate": "2026-11-02", "dueDate": "2026-12-02", "lineItems": LINES, **extra,
    })
    return payload["invoice"]


async def test_create_sends_cents_and_crater_totals(gateway, simulators):
    zero_counts(simulators)
    invoice = await create(gateway)
    assert upstream_writes(simulators, "invoicematic") == {"POST /api/invoices": 1}
    assert invoice["status"] == "DRAFT" and invoice["number"] == "INV-W-0001"
    # 1.5 x 150.00 = 225.00 (+20% = 45.00) and 3 x 49.00 = 147.00
    assert invoice["subtotal"]["amount"] == "372.00"
    assert invoice["taxTotal"]["amount"] == "45.00"
    assert invoice["total"]["amount"] == "417.00"
    assert invoice["amountDue"]["amount"] == "417.00"
    record = simulators.running["invoicematic"].simulator.store.invoices[int(invoice["remoteId"])]
    assert (record["sub_total"], record["tax"], record["total"]) == (37200, 4500, 41700)
    assert [item["price"] for item in record["items"]] == [15000, 4900]
    assert await read_invoice(gateway, invoice["id"]) == invoice


def test_simulator_refuses_a_create_without_crater_fields(simulators: SimulatorGroup):
    running = simulators.running["invoicematic"]
    simulator = running.simulator
    response = httpx.post(
        running.base_url + "/api/invoices",
        headers={"Authorization": f"Bearer {simulator.token}"},
        json={"invoice_date": "2026-11-02", "customer_id": 1, "invoice_number": "X-1",
              "items": []},
        timeout=5,
    )
    assert response.status_code == 422
    errors = response.json()["errors"]
    for name in ("discount", "discount_val", "sub_total", "total", "tax", "template_name",
                 "items"):
        assert name in errors, name
    response = httpx.post(
        running.base_url + "/api/invoices",
        headers={"Authorization": f"Bearer {simulator.token}"},
        json={"invoice_date": "2026-11-02", "customer_id": 1, "invoice_number": "X-1",
              "discount": 0, "discount_val": 0, "sub_total": 100, "total": 100, "tax": 0,
              "template_name": "invoice1",
              "items": [{"name": "a", "quantity": 1, "price": 100}, {"name": "b", "quantity": 1, "price": 1.5}]},
        timeout=5,
    )
    assert response.status_code == 422
    assert response.json()["errors"] == {"items.1.price": ["The items.1.price must be an integer."]}


async def test_same_idempotency_key_creates_one_record(gateway, simulators):
    customer = await first_id(gateway, "customers", "billing")
    before = len(simulators.running["invoicematic"].simulator.store.invoices)
    zero_counts(simulators)
    input = {"source": "billing", "customerId": customer, "number": "INV-W-IDEM",
             "issueDate": "2026-11-02", "lineItems": LINES, "idempotencyKey": "order-42"}
    first = (await written(gateway, "createInvoice", input))["invoice"]
    second = (await written(gateway, "createInvoice", input))["invoice"]
    assert second["id"] == first["id"]
    assert upstream_writes(simulators, "invoicematic") == {"POST /api/invoices": 1}
    assert len(simulators.running["invoicematic"].simulator.store.invoices) == before + 1
    reused = await refused(gateway, "createInvoice", {**input, "number": "INV-W-OTHER"})
    assert codes(reused) == ["IDEMPOTENCY_KEY_REUSED"]
    assert fields(reused) == [["input", "idempotencyKey"]]
    assert upstream_writes(simulators, "invoicematic") == {"POST /api/invoices": 1}


async def test_idempotency_key_is_passed_upstream(gateway, simulators):
    await written(gateway, "createCustomer", {
        "source": "billing", "name": "Keyed Ltd", "idempotencyKey": "cust-1"})
    replays = simulators.running["invoicematic"].simulator.replays
    assert len(replays) == 1  # the upstream holds the key too (derived from caller+key)
    (stored_key,) = [key for _, key in replays]
    assert stored_key != "cust-1" and stored_key.startswith("gw-") and len(stored_key) == 27


async def test_upstream_422_maps_onto_the_input_path(gateway, simulators):
    existing = (await gateway.data('{ invoices(first: 1, filter: {sources: ["billing"]}) { nodes { number } } }'))
    taken = existing["invoices"]["nodes"][0]["number"]
    customer = await first_id(gateway, "customers", "billing")
    errors = await refused(gateway, "createInvoice", {
        "source": "billing", "customerId": customer, "number": taken, "lineItems": LINES,
    })
    assert sorted(map(tuple, fields(errors))) == [("input", "issueDate"), ("input", "number")]
    by_field = {tuple(e["field"]): e["message"] for e in errors}
    assert by_field[("input", "number")] == "The invoice number has already been taken."
    assert by_field[("input", "issueDate")] == "The invoice date field is required."


async def test_update_sends_the_whole_document_and_stale_version_is_conflict(gateway, simulators):
    invoice = await create(gateway)
    updated = (await written(gateway, "updateInvoice", {
        "id": invoice["id"], "version": invoice["version"], "dueDate": "2027-01-15",
        "lineItems": [{"description": "Logo Design", "quantity": "1", "unitPrice": "2500"}],
    }))["invoice"]
    assert updated["dueDate"] == "2027-01-15" and updated["total"]["amount"] == "2500.00"
    assert updated["number"] == "INV-W-0001" and updated["issueDate"] == "2026-11-02"
    zero_counts(simulators)
    errors = await refused(gateway, "updateInvoice", {
        "id": invoice["id"], "version": invoice["version"], "number": "INV-W-0002",
    })
    assert codes(errors) == ["CONFLICT"]
    assert upstream_writes(simulators, "invoicematic") == {}
    assert await read_invoice(gateway, invoice["id"]) == updated


async def test_payments_settle_the_invoice(gateway, simulators):
    invoice = await create(gateway)
    part = (await written(gateway, "recordPayment", {
        "invoiceId": invoice["id"], "amount": "100.00", "date": "2026-11-05",
        "number": "PAY-W-1",
    }))["payment"]
    assert part["amount"] == {"amount": "100.00", "currency": invoice["currency"]}
    assert part["invoice"]["status"] == "PARTIALLY_PAID"
    assert part["invoice"]["amountDue"]["amount"] == "317.00"
    too_much = await refused(gateway, "recordPayment", {
        "invoiceId": invoice["id"], "amount": "317.01", "date": "2026-11-06", "number": "PAY-W-2",
    })
    assert fields(too_much) == [["input", "amount"]] and codes(too_much) == ["VALIDATION_FAILED"]
    rest = (await written(gateway, "recordPayment", {
        "invoiceId": invoice["id"], "amount": "317.00", "date": "2026-11-06", "number": "PAY-W-3",
    }))["payment"]
    assert rest["invoice"]["status"] == "PAID"
    assert (await read_invoice(gateway, invoice["id"]))["amountDue"]["amount"] == "0.00"


async def test_delete_invoice(gateway):
    invoice = await create(gateway)
    assert (await written(gateway, "deleteInvoice", {"id": invoice["id"]}))["deletedId"] == invoice["id"]
    body = await gateway.query("query($id: ID!) { invoice(id: $id) { id } }", {"id": invoice["id"]})
    assert body["data"]["invoice"] is None


async def test_customers_create_and_update(gateway):
    made = (await written(gateway, "createCustomer", {
        "source": "billing", "name": "Fjord Analytics", "email": "ap@fjord.example",
        "address": {"line1": "1 Quay St", "city": "Dublin", "country": "IE"},
    }))["customer"]
    assert made["address"] == {"line1": "1 Quay St", "city": "Dublin", "country": "IE"}
    changed = (await written(gateway, "updateCustomer", {"id": made["id"], "phone": "+353 1 555"}))["customer"]
    assert changed["phone"] == "+353 1 555" and changed["name"] == "Fjord Analytics"
    assert await read_customer(gateway, made["id"]) == changed


async def test_what_invoicematic_cannot_do_never_reaches_it(gateway, simulators):
    invoice = await first_id(gateway, "invoices", "billing")
    customer = await first_id(gateway, "customers", "billing")
    zero_counts(simulators)
    status = await refused(gateway, "setInvoiceStatus", {"id": invoice, "status": "PAID"})
    assert codes(status) == ["UNSUPPORTED"]
    opened = await refused(gateway, "createInvoice", {
        "source": "billing", "customerId": customer, "status": "OPEN", "currency": "USD",
        "lineItems": LINES,
    })
    assert sorted(map(tuple, fields(opened))) == [("input", "currency"), ("input", "status")]
    method = await refused(gateway, "recordPayment", {
        "invoiceId": invoice, "amount": "1", "date": "2026-11-01", "method": "Cash"})
    assert fields(method) == [["input", "method"]]
    assert upstream_total(simulators, "invoicematic") == 0


async def test_an_upstream_500_on_a_write_is_a_graphql_error_and_not_retried(gateway, simulators):
    running = simulators.running["invoicematic"]
    sim_control(running, "POST", "/_sim/faults", {"mode": "500", "times": 1, "path": "/api/customers"})
    zero_counts(simulators)
    body = await mutate_raw(gateway, "createCustomer", {"source": "billing", "name": "Flaky"})
    assert body["data"]["createCustomer"] is None
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "UPSTREAM_UNAVAILABLE", "source": "billing", "status": 500}
    assert upstream_writes(simulators, "invoicematic") == {"POST /api/customers": 1}


async def test_a_refused_create_frees_its_key_for_the_corrected_input(gateway, simulators):
    existing = await gateway.data('{ invoices(first: 1, filter: {sources: ["billing"]}) { nodes { number } } }')
    taken = existing["invoices"]["nodes"][0]["number"]
    customer = await first_id(gateway, "customers", "billing")
    input = {"source": "billing", "customerId": customer, "number": taken,
             "issueDate": "2026-11-02", "lineItems": LINES, "idempotencyKey": "fix-me"}
    errors = await refused(gateway, "createInvoice", input)
    assert fields(errors) == [["input", "number"]]
    # Invoicematic keeps its first answer per key; the corrected input gets its own key upstream
    fixed = (await written(gateway, "createInvoice", {**input, "number": "INV-W-FIXED"}))["invoice"]
    assert fixed["number"] == "INV-W-FIXED"
