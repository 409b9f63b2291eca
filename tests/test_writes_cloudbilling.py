"""Writes to Cloud Billing through the gateway: drafts, issued then paid, customers."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from gateway.domain.inputs import InvoiceDraft
from gateway.upstream.scope import RequestScope, request_scope
from tests.conftest import zero_counts
from tests.writing import (
    codes,
    fields,
    first_id,
    mutate,
    read_customer,
    read_invoice,
    refused,
    upstream_total,
    upstream_writes,
    written,
)

pytestmark = pytest.mark.usefixtures("fresh_simulators")

LINES = [
    {"description": "Support hours", "quantity": "2", "unitPrice": "49.99", "taxRate": "20"},
    {"description": "Setup fee", "quantity": "1", "unitPrice": "10.00"},
]


async def draft(gateway, **extra):
    customer = await first_id(gateway, "customers", "cloud")
    payload = await written(gateway, "createInvoice", {
        "source": "cloud", "customerId": customer, "status": "DRAFT", "currency": "EUR",
        "issueDate": "2026-11-02", "dueDate": "2026-12-02", "lineItems": LINES, **extra,
    })
    return payload["invoice"]


async def test_create_returns_the_upstreams_totals_and_reads_back(gateway, simulators):
    zero_counts(simulators)
    invoice = await draft(gateway, number="CB-TEST-1")
    assert upstream_writes(simulators, "cloudbilling") == {"POST /invoices": 1}
    assert invoice["status"] == "DRAFT" and invoice["number"] == "CB-TEST-1"
    # cloudbilling.md formulas, computed upstream: 2 x 49.99 = 99.98, tax round2(19.996)
    assert invoice["subtotal"] == {"amount": "109.98", "currency": "EUR"}
    assert invoice["taxTotal"]["amount"] == "20.00"
    assert invoice["total"]["amount"] == "129.98"
    again = await read_invoice(gateway, invoice["id"])
    assert again == invoice
    assert [line["description"] for line in again["lineItems"]] == ["Support hours", "Setup fee"]


async def test_update_replaces_lines_of_a_draft_and_a_stale_version_changes_nothing(
    gateway, simulators
):
    invoice = await draft(gateway)
    new_lines = [{"description": "Consulting", "quantity": "3", "unitPrice": "100"}]
    updated = (await written(gateway, "updateInvoice", {
        "id": invoice["id"], "version": invoice["version"], "lineItems": new_lines,
    }))["invoice"]
    assert updated["total"]["amount"] == "300.00"
    assert updated["version"] != invoice["version"]
    zero_counts(simulators)
    errors = await refused(gateway, "updateInvoice", {
        "id": invoice["id"], "version": invoice["version"], "lineItems": LINES,
    })
    assert codes(errors) == ["CONFLICT"] and fields(errors) == [["input", "version"]]
    assert upstream_writes(simulators, "cloudbilling") == {}
    assert await read_invoice(gateway, invoice["id"]) == updated


async def test_status_moves_draft_to_open_to_paid_only(gateway, simulators):
    invoice = await draft(gateway)
    paid_too_early = await refused(gateway, "setInvoiceStatus", {"id": invoice["id"], "status": "PAID"})
    assert codes(paid_too_early) == ["CONFLICT"]  # the upstream's 409: a draft is issued first
    assert "issued" in paid_too_early[0]["message"]
    opened = (await written(gateway, "setInvoiceStatus", {
        "id": invoice["id"], "status": "OPEN", "version": invoice["version"],
    }))["invoice"]
    assert opened["status"] == "OPEN"
    # an issued invoice is no longer editable: the upstream's 409 is a CONFLICT
    locked = await refused(gateway, "updateInvoice", {"id": invoice["id"], "lineItems": LINES})
    assert codes(locked) == ["CONFLICT"]
    paid = (await written(gateway, "setInvoiceStatus", {"id": invoice["id"], "status": "PAID"}))["invoice"]
    assert paid["status"] == "PAID" and paid["amountDue"]["amount"] == "0.00"
    assert (await read_invoice(gateway, invoice["id"]))["status"] == "PAID"
    zero_counts(simulators)
    for status in ("VOID", "DRAFT", "SUBMITTED", "PARTIALLY_PAID"):
        errors = await refused(gateway, "setInvoiceStatus", {"id": invoice["id"], "status": status})
        assert codes(errors) == ["UNSUPPORTED"] and fields(errors) == [["input", "status"]]
    assert upstream_total(simulators, "cloudbilling") == 0


async def test_delete_only_drafts(gateway):
    invoice = await draft(gateway)
    gone = await written(gateway, "deleteInvoice", {"id": invoice["id"]})
    assert gone["deletedId"] == invoice["id"]
    body = await gateway.query("query($id: ID!) { invoice(id: $id) { id } }", {"id": invoice["id"]})
    assert body["data"]["invoice"] is None
    issued = await first_id(gateway, "invoices", "cloud", status=["OPEN"])
    errors = await refused(gateway, "deleteInvoice", {"id": issued})
    assert codes(errors) == ["CONFLICT"]
    assert await read_invoice(gateway, issued) is not None


async def test_upstream_validation_maps_onto_the_input_path(gateway, simulators):
    customer = await first_id(gateway, "customers", "cloud")
    lines = [*LINES, {"description": "Nothing", "quantity": "0", "unitPrice": "5"}]
    zero_counts(simulators)
    errors = await refused(gateway, "createInvoice", {
        "source": "cloud", "customerId": customer, "lineItems": lines,
    })
    assert errors == [{"field": ["input", "lineItems", "2", "quantity"],
                       "message": "must be greater than 0", "code": "VALIDATION_FAILED"}]
    assert upstream_writes(simulators, "cloudbilling") == {"POST /invoices": 1}


async def test_customers_create_and_update(gateway):
    made = (await written(gateway, "createCustomer", {
        "source": "cloud", "name": "Initrode Ltd", "email": "ap@initrode.example",
    }))["customer"]
    assert made["name"] == "Initrode Ltd" and made["email"] == "ap@initrode.example"
    changed = (await written(gateway, "updateCustomer", {"id": made["id"], "name": "Initrode plc"}))["customer"]
    assert changed["name"] == "Initrode plc" and changed["email"] == "ap@initrode.example"
    assert await read_customer(gateway, made["id"]) == changed


async def test_what_cloud_billing_cannot_do_never_reaches_it(gateway, simulators):
    invoice = await first_id(gateway, "invoices", "cloud", status=["DRAFT"])
    customer = await first_id(gateway, "customers", "cloud")
    zero_counts(simulators)
    payment = await refused(gateway, "recordPayment", {
        "invoiceId": invoice, "amount": "10.00", "date": "2026-11-03",
    })
    assert codes(payment) == ["UNSUPPORTED"]
    number = await refused(gateway, "updateInvoice", {"id": invoice, "number": "X-1"})
    assert codes(number) == ["UNSUPPORTED"] and fields(number) == [["input", "number"]]
    phone = await refused(gateway, "updateCustomer", {"id": customer, "phone": "+1 555"})
    assert fields(phone) == [["input", "phone"]]
    document = await refused(gateway, "submitInvoiceDocument", {
        "source": "cloud", "filename": "a.pdf", "contentBase64": "JVBERi0=",
    })
    assert codes(document) == ["UNSUPPORTED"]
    payable = await refused(gateway, "createInvoice", {
        "source": "cloud", "type": "PAYABLE", "terms": "Net 30",
        "lineItems": [{"description": "x", "quantity": "1", "unitPrice": "1", "sku": "A"}],
    })
    assert sorted(map(tuple, fields(payable))) == sorted([
        ("input", "terms"), ("input", "type"), ("input", "lineItems", "0", "sku"),
    ])
    assert upstream_total(simulators, "cloudbilling") == 0


async def test_concurrent_updates_with_one_version_write_once(gateway, simulators):
    invoice = await draft(gateway)
    zero_counts(simulators)
    updates = [
        {"id": invoice["id"], "version": invoice["version"],
         "lineItems": [{"description": f"Variant {n}", "quantity": "1", "unitPrice": "5"}]}
        for n in range(3)
    ]
    payloads = await asyncio.gather(*(mutate(gateway, "updateInvoice", u) for u in updates))
    outcomes = sorted(codes(p["userErrors"]) for p in payloads)
    assert outcomes == [[], ["CONFLICT"], ["CONFLICT"]]  # the gateway serializes the compare
    assert upstream_writes(simulators, "cloudbilling") == {"PATCH /invoices/{id}": 1}


async def test_more_lines_than_cloud_billing_takes(gateway):
    customer = await first_id(gateway, "customers", "cloud")
    lines = [{"description": f"Line {n}", "quantity": "1", "unitPrice": "1"} for n in range(51)]
    errors = await refused(gateway, "createInvoice", {"source": "cloud", "customerId": customer, "lineItems": lines})
    assert errors == [{"field": ["input", "lineItems"], "message": "at most 50 lines",
                       "code": "VALIDATION_FAILED"}]


async def test_a_price_too_precise_for_a_json_number_never_leaves(gateway, simulators):
    zero_counts(simulators)
    errors = await refused(gateway, "createInvoice", {"source": "cloud", "lineItems": [
        {"description": "x", "quantity": "1", "unitPrice": "1234567890.1234567"}]})
    assert fields(errors) == [["input", "lineItems", "0", "unitPrice"]]
    assert upstream_total(simulators, "cloudbilling") == 0


async def test_looking_for_an_unknown_create_keeps_no_page_of_the_list(make_adapter, simulators):
    # Reconciling an unknown create reads the whole invoice list when the record is not
    # there (a full read proves none). Those pages went into the read cache, kept up to
    # `stale_ttl` (300 s): with 20,000 invoices upstream one reconciliation raised the
    # gateway's RSS by 50 MB for good (docs/performance.md, soak). Now none is kept.
    running = simulators.running["cloudbilling"]
    tenant = running.simulator.tenants[running.source_block()["tenant_slug"]]
    template = next(iter(tenant.invoices.values()))
    for n in range(1000):
        tenant.invoices[f"inv_pad{n:06d}"] = {**template, "id": f"inv_pad{n:06d}",
                                              "number": f"PAD-{n}"}
    adapter = make_adapter("cloudbilling", cache_ttl=5)
    zero_counts(simulators)
    draft = InvoiceDraft(line_items=(), number="NOT-THERE", customer_id=template["customer_id"])
    with request_scope(RequestScope()):
        assert await adapter.find_invoice(draft, "gw-reference") is None
        assert await adapter.find_invoice(
            replace(draft, number="PAD-3"), "gw-reference") is not None
    assert upstream_total(simulators, "cloudbilling") >= 11  # every page was read
    assert not adapter.client.cache._entries
