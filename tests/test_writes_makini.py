"""Writes to Makini through the gateway: singular `lineItem`, string money, status keys."""

from __future__ import annotations

import pytest

from tests.conftest import zero_counts
from tests.writing import (
    codes,
    fields,
    first_id,
    read_customer,
    read_invoice,
    refused,
    upstream_total,
    upstream_writes,
    written,
)

pytestmark = pytest.mark.usefixtures("fresh_simulators")

LINES = [
    {"description": "Pump overhaul", "quantity": "2", "unitPrice": "150.50", "taxRate": "10",
     "sku": "SRV-PUMP"},
    {"description": "Gasket kit", "quantity": "4", "unitPrice": "12.25"},
]


async def create(gateway, **extra):
    customer = await first_id(gateway, "customers", "erp")
    payload = await written(gateway, "createInvoice", {
        "source": "erp", "customerId": customer, "number": "ERP-W-1", "currency": "EUR",
        "issueDate": "2026-11-02", "dueDate": "2026-12-01", "status": "DRAFT",
        "lineItems": LINES, **extra,
    })
    return payload["invoice"]


async def test_create_sends_singular_line_items_and_reads_back(gateway, simulators):
    zero_counts(simulators)
    invoice = await create(gateway)
    assert upstream_writes(simulators, "makini") == {"POST /api/invoices": 1}
    assert invoice["type"] == "RECEIVABLE" and invoice["status"] == "DRAFT"
    assert invoice["currency"] == "EUR" and invoice["issueDate"] == "2026-11-02"
    # Makini computes the totals from the lines: net 301.00 + 49.00, tax 30.10
    assert invoice["subtotal"]["amount"] == "350.00"
    assert invoice["taxTotal"]["amount"] == "30.10"
    assert invoice["total"] == {"amount": "380.10", "currency": "EUR"}
    lines = invoice["lineItems"]
    assert [(line["sku"], line["quantity"], line["unitPrice"]["amount"]) for line in lines] == [
        ("SRV-PUMP", "2", "150.50"), (None, "4", "12.25")]
    assert await read_invoice(gateway, invoice["id"]) == invoice


async def test_update_and_stale_version(gateway, simulators):
    invoice = await create(gateway)
    updated = (await written(gateway, "updateInvoice", {
        "id": invoice["id"], "version": invoice["version"], "number": "ERP-W-1b",
        "lineItems": [{"description": "Inspection", "quantity": "1", "unitPrice": "80"}],
    }))["invoice"]
    assert updated["number"] == "ERP-W-1b" and updated["total"]["amount"] == "80.00"
    assert updated["version"] != invoice["version"]
    zero_counts(simulators)
    errors = await refused(gateway, "updateInvoice", {
        "id": invoice["id"], "version": invoice["version"], "number": "ERP-W-1c",
    })
    assert codes(errors) == ["CONFLICT"]
    assert upstream_writes(simulators, "makini") == {}  # compared by the gateway, not sent
    assert await read_invoice(gateway, invoice["id"]) == updated


async def test_status_change_through_the_status_table(gateway, simulators):
    invoice = await create(gateway)
    paid = (await written(gateway, "setInvoiceStatus", {
        "id": invoice["id"], "status": "PAID", "version": invoice["version"],
    }))["invoice"]
    assert paid["status"] == "PAID" and paid["statusRaw"] == "paid"
    assert upstream_writes(simulators, "makini")["PUT /api/invoices/{key}/status"] == 1
    stale = await refused(gateway, "setInvoiceStatus", {
        "id": invoice["id"], "status": "VOID", "version": invoice["version"],
    })
    assert codes(stale) == ["CONFLICT"]
    assert (await read_invoice(gateway, invoice["id"]))["status"] == "PAID"


async def test_upstream_422_maps_onto_the_input_path(gateway, simulators):
    customer = await first_id(gateway, "customers", "erp")
    zero_counts(simulators)
    errors = await refused(gateway, "createInvoice", {
        "source": "erp", "customerId": customer, "issueDate": "2026-11-02",
        "purchaseOrderNumber": "PO-77", "lineItems": LINES,
    })
    assert sorted(map(tuple, fields(errors))) == [("input", "number"),
                                                  ("input", "purchaseOrderNumber")]
    assert set(codes(errors)) == {"VALIDATION_FAILED"}
    messages = {tuple(e["field"]): e["message"] for e in errors}
    assert messages[("input", "number")] == "The invoice number field is required."
    assert messages[("input", "purchaseOrderNumber")] == "The po key format is invalid."
    assert upstream_writes(simulators, "makini") == {"POST /api/invoices": 1}


async def test_a_currency_the_organization_lacks_is_refused_before_writing(gateway, simulators):
    customer = await first_id(gateway, "customers", "erp")
    zero_counts(simulators)
    errors = await refused(gateway, "createInvoice", {
        "source": "erp", "customerId": customer, "number": "X", "currency": "JPY",
        "lineItems": LINES,
    })
    assert fields(errors) == [["input", "currency"]] and "USD" in errors[0]["message"]
    assert upstream_writes(simulators, "makini") == {}


async def test_customers_create_and_update(gateway):
    made = (await written(gateway, "createCustomer", {"source": "erp", "name": "Baltic Mills"}))["customer"]
    assert made["name"] == "Baltic Mills" and len(made["remoteId"]) == 14
    changed = (await written(gateway, "updateCustomer", {"id": made["id"], "name": "Baltic Mills AS"}))["customer"]
    assert (await read_customer(gateway, made["id"]))["name"] == "Baltic Mills AS" == changed["name"]


async def test_what_makini_cannot_do_never_reaches_it(gateway, simulators):
    invoice = await first_id(gateway, "invoices", "erp")
    zero_counts(simulators)
    assert codes(await refused(gateway, "deleteInvoice", {"id": invoice})) == ["UNSUPPORTED"]
    assert codes(await refused(gateway, "recordPayment", {
        "invoiceId": invoice, "amount": "1.00", "date": "2026-11-03"})) == ["UNSUPPORTED"]
    email = await refused(gateway, "createCustomer", {"source": "erp", "name": "A", "email": "a@b.example"})
    assert codes(email) == ["UNSUPPORTED"] and fields(email) == [["input", "email"]]
    terms = await refused(gateway, "updateInvoice", {"id": invoice, "terms": "Net 30"})
    assert fields(terms) == [["input", "terms"]]
    assert upstream_total(simulators, "makini") == 0


async def test_a_bill_from_a_vendor(gateway):
    vendor = await first_id(gateway, "vendors", "erp")
    bill = (await written(gateway, "createInvoice", {
        "source": "erp", "type": "PAYABLE", "vendorId": vendor, "number": "BILL-W-1",
        "issueDate": "2026-11-03", "status": "OPEN", "lineItems": LINES[1:],
    }))["invoice"]
    assert bill["type"] == "PAYABLE" and bill["vendor"] == {"id": vendor}
    assert bill["status"] == "OPEN" and bill["customer"] is None
    assert (await read_invoice(gateway, bill["id"]))["total"]["amount"] == "49.00"
