"""Writes to MakersHub through the gateway: PATCH with `hash_id`, structured bills and
scanned documents for OCR; everything else it cannot do never reaches it."""

from __future__ import annotations

import base64

import pytest

from gateway.domain.ids import decode_id, encode_id
from gateway.errors import UpstreamRejected
from tests.conftest import zero_counts
from tests.writing import (
    codes,
    fields,
    read_invoice,
    refused,
    upstream_total,
    upstream_writes,
    written,
)

pytestmark = pytest.mark.usefixtures("fresh_simulators")

LINES = [
    {"description": "Steel brackets", "quantity": "40", "unitPrice": "2.35", "sku": "BRK-40"},
    {"description": "Freight", "quantity": "1", "unitPrice": "35.00"},
]


def pending_id(simulators, approved=False):
    """A plain MakersHub bill, neither approved nor rejected (or an approved one)."""
    invoices = simulators.running["makershub"].simulator.invoices
    for number, record in sorted(invoices.items()):
        if record["parent_id"] is None and record["rejected"] is None and (
            (record["approved"] is not None) == approved
        ):
            return encode_id("Invoice", "ap", str(number))
    raise AssertionError("no such bill seeded")


async def test_create_a_structured_bill_and_read_it_back(gateway, simulators):
    zero_counts(simulators)
    invoice = (await written(gateway, "createInvoice", {
        "source": "ap", "type": "PAYABLE", "number": "SUP-5531", "issueDate": "2026-11-02",
        "dueDate": "2026-12-02", "purchaseOrderNumber": "PO-9", "terms": "Net 30",
        "lineItems": LINES,
    }))["invoice"]
    assert upstream_writes(simulators, "makershub") == {"POST /v1/invoices": 1}
    assert invoice["type"] == "PAYABLE" and invoice["status"] == "SUBMITTED"
    assert invoice["total"]["amount"] == "129.00"  # 40 x 2.35 + 35.00, sent as invoice_total
    assert [line["sku"] for line in invoice["lineItems"]] == ["BRK-40", None]
    assert await read_invoice(gateway, invoice["id"]) == invoice
    # MakersHub cannot list: the gateway's own create joins its index
    store = gateway.app.state.store
    assert int(invoice["remoteId"]) in await store.index_page("ap", 0, 10_000)


async def test_update_sends_hash_id_and_a_stale_one_is_conflict(gateway, simulators):
    invoice_id = pending_id(simulators)
    before = await read_invoice(gateway, invoice_id)
    updated = (await written(gateway, "updateInvoice", {
        "id": invoice_id, "version": before["version"], "terms": "Net 45", "lineItems": LINES,
    }))["invoice"]
    assert updated["terms"] == "Net 45" and updated["total"]["amount"] == "129.00"
    assert updated["version"] != before["version"]
    zero_counts(simulators)
    errors = await refused(gateway, "updateInvoice", {
        "id": invoice_id, "version": before["version"], "terms": "Net 60",
    })
    assert codes(errors) == ["CONFLICT"] and errors[0]["message"] == "Invoice has been modified"
    # the lock is MakersHub's own: the PATCH went, carrying the stale hash, and was refused
    assert upstream_writes(simulators, "makershub") == {"PATCH /v1/invoices/{invoice_id}": 1}
    assert await read_invoice(gateway, invoice_id) == updated


async def test_an_approved_bill_is_locked(gateway, simulators):
    invoice_id = pending_id(simulators, approved=True)
    before = await read_invoice(gateway, invoice_id)
    errors = await refused(gateway, "updateInvoice", {"id": invoice_id, "number": "NEW-1"})
    assert codes(errors) == ["CONFLICT"] and errors[0]["message"] == "Invoice is locked"
    assert await read_invoice(gateway, invoice_id) == before


async def test_submit_a_document_for_ocr(gateway, simulators):
    content = base64.b64encode(b"%PDF-1.7 scanned bill").decode()
    zero_counts(simulators)
    input = {"source": "ap", "filename": "bill.pdf", "contentBase64": content,
             "idempotencyKey": "scan-1"}
    invoice = (await written(gateway, "submitInvoiceDocument", input))["invoice"]
    assert invoice["number"] is None and invoice["lineItems"] == []  # not read yet
    again = (await written(gateway, "submitInvoiceDocument", input))["invoice"]
    assert again["id"] == invoice["id"]
    assert upstream_writes(simulators, "makershub") == {"POST /v1/invoices": 1}
    record = simulators.running["makershub"].simulator.invoices[int(invoice["remoteId"])]
    assert record["document"]["name"] == "bill.pdf"
    assert record["document"]["size"] == len(b"%PDF-1.7 scanned bill")
    # read back through the gateway: empty until MakersHub has read the document (the
    # simulator's OCR finishes on the third GET), then a bill with its fields
    reads = [await read_invoice(gateway, invoice["id"]) for _ in range(2)]
    assert reads[-1]["number"] is not None and reads[-1]["total"] is not None
    assert reads[-1]["lineItems"] and reads[-1]["version"] != invoice["version"]


async def test_a_bad_document_never_reaches_makershub(gateway, simulators):
    zero_counts(simulators)
    errors = await refused(gateway, "submitInvoiceDocument", {
        "source": "ap", "filename": "bill.pdf", "contentBase64": "not base64!"})
    assert fields(errors) == [["input", "contentBase64"]] and codes(errors) == ["VALIDATION_FAILED"]
    assert upstream_total(simulators, "makershub") == 0


async def test_what_makershub_cannot_do_never_reaches_it(gateway, simulators):
    invoice_id = pending_id(simulators)
    zero_counts(simulators)
    for name, input in [
        ("setInvoiceStatus", {"id": invoice_id, "status": "OPEN"}),
        ("deleteInvoice", {"id": invoice_id}),
        ("recordPayment", {"invoiceId": invoice_id, "amount": "5", "date": "2026-11-01"}),
        ("createCustomer", {"source": "ap", "name": "Nobody"}),
    ]:
        assert codes(await refused(gateway, name, input)) == ["UNSUPPORTED"], name
    receivable = await refused(gateway, "createInvoice", {
        "source": "ap", "type": "RECEIVABLE", "currency": "USD", "status": "DRAFT",
        "lineItems": [{**LINES[0], "taxRate": "7"}],
    })
    assert sorted(map(tuple, fields(receivable))) == sorted([
        ("input", "currency"), ("input", "status"), ("input", "type"),
        ("input", "lineItems", "0", "taxRate"),
    ])
    assert upstream_total(simulators, "makershub") == 0


async def test_a_400_naming_a_field_maps_onto_the_input_path(make_adapter, simulators):
    adapter = make_adapter("makershub")
    remote_id = pending_id(simulators)
    current = await adapter.get_invoice(_remote(remote_id))
    body = {"hash_id": current.version, "invoice_items": [
        {"id": "1", "qty": 1, "price": 1, "total": 1, "description": "a"},
        {"id": "2", "qty": "two", "price": 1, "total": 2, "description": "b"},
    ]}
    with pytest.raises(UpstreamRejected) as caught:
        await adapter.client.send_json("PATCH", f"/v1/invoices/{current.remote_id}", body)
    (problem,) = adapter.refusal(caught.value).problems
    assert problem.field == ("input", "lineItems", "1", "quantity")
    assert problem.code == "VALIDATION_FAILED"
    assert problem.message == "invoice_items[1].qty must be a number"


def _remote(global_id):
    return decode_id(global_id).remote_id


async def test_a_bill_names_its_vendor_by_supplier_id(gateway, simulators):
    invoices = simulators.running["makershub"].simulator.invoices
    mapped = next(r["supplier_info"]["supplierId"] for r in invoices.values()
                  if r["supplier_info"].get("supplierId"))
    unmapped_name = next(r["supplier_info"]["name"] for r in invoices.values()
                         if r["supplier_info"] and not r["supplier_info"].get("supplierId"))
    vendor = encode_id("Vendor", "ap", mapped)
    bill = (await written(gateway, "createInvoice", {
        "source": "ap", "vendorId": vendor, "number": "SUP-V-1", "lineItems": LINES}))["invoice"]
    assert bill["vendor"] == {"id": vendor}
    assert (await read_invoice(gateway, bill["id"]))["vendor"] == {"id": vendor}
    # a supplier known only by name has no id MakersHub could take
    by_name = await gateway.data(
        "query($id: ID!) { invoice(id: $id) { vendor { id name } } }",
        {"id": encode_id("Invoice", "ap", str(next(
            n for n, r in sorted(invoices.items())
            if r["supplier_info"].get("name") == unmapped_name and r["parent_id"] is None)))})
    zero_counts(simulators)
    errors = await refused(gateway, "createInvoice", {
        "source": "ap", "vendorId": by_name["invoice"]["vendor"]["id"], "lineItems": LINES})
    assert fields(errors) == [["input", "vendorId"]]
    assert upstream_writes(simulators, "makershub") == {}
