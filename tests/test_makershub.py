"""MakersHub quirks: grouped invoices, no list endpoint, approval timestamps, JSON-number
money, configured currency, PATCH optimistic locking and the OCR queue."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

from gateway.adapters import Capability
from gateway.domain.records import ApprovalStatus, InvoiceQuery, InvoiceStatus, InvoiceType
from gateway.errors import (
    UpstreamBadResponse,
    UpstreamForbidden,
    UpstreamNotFound,
    UpstreamUnsupported,
)
from gateway.simulators.makershub import READ_ONLY_TOKEN
from tests.conftest import reset_simulator

KIND = "makershub"


@pytest.fixture
def running(simulators):
    return simulators.running[KIND]


@pytest.fixture
def sim(running):
    return running.simulator


def call(running, method: str, path: str, token: str | None = None, **kwargs: Any):
    """A raw request to the simulated MakersHub API, as a client of the real one would."""
    headers = {"Authorization": f"Bearer {token or running.simulator.token}"}
    headers.update(kwargs.pop("headers", {}))
    return httpx.request(method, running.base_url + path, headers=headers, timeout=5, **kwargs)


def exact(response: httpx.Response) -> Any:
    """The body with JSON numbers read as Decimal: the amounts exactly as sent."""
    return json.loads(response.text, parse_float=Decimal)


def ids_in_state(sim, state: str) -> list[str]:
    def state_of(record: dict[str, Any]) -> str:
        if record["approved"]:
            return "approved"
        return "rejected" if record["rejected"] else "pending"

    return [
        str(i)
        for i, record in sorted(sim.invoices.items())
        if record["parent_id"] is None and state_of(record) == state
    ]


# --- grouped invoices -------------------------------------------------------------------
async def test_group_get_returns_children_with_parent_id(running, sim):
    assert len(sim.group_ids()) >= 5
    for group_id in sim.group_ids():
        reply = call(running, "GET", f"/v1/invoices/{group_id}")
        assert reply.status_code == 200
        body = reply.json()
        assert (body["status"], body["msg"]) == ("OK", "Record found")
        assert 2 <= len(body["result"]) <= 4
        assert {child["parent_id"] for child in body["result"]} == {int(group_id)}
        assert all(child["id"] != int(group_id) for child in body["result"])


async def test_adapter_synthesizes_group_with_summed_total(make_adapter, running, sim):
    adapter = make_adapter(KIND)
    group_id = sim.group_ids()[0]
    children = exact(call(running, "GET", f"/v1/invoices/{group_id}"))["result"]
    group = await adapter.get_invoice(group_id)
    assert group.remote_id == group_id
    assert [child.remote_id for child in group.grouped] == [str(c["id"]) for c in children]
    expected = sum((c["invoice_total"] for c in children), Decimal(0))
    assert group.total is not None
    assert group.total.amount == expected
    assert group.total.amount == sum(
        (child.total.amount for child in group.grouped if child.total), Decimal(0)
    )
    assert group.issue_date == min(child.issue_date for child in group.grouped)
    # children of one group come from one supplier (seeded that way)
    assert group.vendor_snapshot is not None
    assert group.vendor_snapshot.name == children[0]["supplier_info"]["name"]
    assert [r["id"] for r in group.remote_data["result"]] == [c["id"] for c in children]


async def test_child_fetched_alone_is_a_plain_invoice(make_adapter, running, sim):
    adapter = make_adapter(KIND)
    group_id = sim.group_ids()[1]
    child_id = str(sim.groups[int(group_id)][0])
    body = call(running, "GET", f"/v1/invoices/{child_id}").json()
    assert len(body["result"]) == 1
    assert body["result"][0]["parent_id"] == int(group_id)
    child = await adapter.get_invoice(child_id)
    assert child.remote_id == child_id
    assert child.grouped == ()
    assert child.line_items, "a child carries its own line items"


async def test_reply_for_another_id_is_a_bad_response(make_adapter, sim):
    adapter = make_adapter(KIND)
    remote_id = ids_in_state(sim, "approved")[0]
    record = sim.invoices[int(remote_id)]
    record["id"] = int(remote_id) + 100_000  # an upstream answering with the wrong record
    try:
        with pytest.raises(UpstreamBadResponse, match="neither invoice"):
            await adapter.get_invoice(remote_id)
    finally:
        record["id"] = int(remote_id)


async def test_mistyped_field_is_a_bad_response_naming_it(make_adapter, sim):
    adapter = make_adapter(KIND)
    remote_id = ids_in_state(sim, "approved")[1]
    record = sim.invoices[int(remote_id)]
    original = record["invoice_total"]
    record["invoice_total"] = str(original)  # a string where the contract says number
    try:
        with pytest.raises(UpstreamBadResponse, match="invoice_total"):
            await adapter.get_invoice(remote_id)
    finally:
        record["invoice_total"] = original


# --- no list endpoint -------------------------------------------------------------------
async def test_there_is_no_list_endpoint(make_adapter, running):
    assert call(running, "GET", "/v1/invoices").status_code in (404, 405)
    adapter = make_adapter(KIND)
    # Lists come from the gateway's index in its state store; without one, none.
    assert Capability.LIST_INVOICES in adapter.capabilities
    assert adapter.state is None
    with pytest.raises(UpstreamUnsupported, match="state store"):
        await adapter.list_invoices(InvoiceQuery(), 0)


# --- ids --------------------------------------------------------------------------------
@pytest.mark.parametrize("bad_id", ["0", "-3", "abc", "12.5", "", " 48213", "048213", "1e3"])
async def test_invalid_id_is_not_found_without_a_call(make_adapter, bad_id):
    adapter = make_adapter(KIND)
    with pytest.raises(UpstreamNotFound, match="positive integers"):
        await adapter.get_invoice(bad_id)
    assert adapter.client.calls == 0


@pytest.mark.parametrize("bad_id", ["0", "-3", "abc", "12.5"])
async def test_simulator_refuses_invalid_id_forms(running, bad_id):
    reply = call(running, "GET", f"/v1/invoices/{bad_id}")
    assert reply.status_code == 400
    assert reply.json() == {"status": "Error", "msg": "Invalid invoice ID", "result": None}


async def test_errors_use_the_envelope(running, sim):
    missing = call(running, "GET", f"/v1/invoices/{sim.missing_id('invoices')}")
    assert missing.status_code == 404
    assert missing.json() == {"status": "Error", "msg": "Invoice not found", "result": None}
    denied = call(running, "GET", "/v1/invoices/0", token="nope")
    assert denied.status_code == 401, "auth is checked before the id"
    assert denied.json() == {"status": "Error", "msg": "Unauthorized", "result": None}


# --- normalization ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("state", "status", "approval"),
    [
        ("pending", InvoiceStatus.SUBMITTED, ApprovalStatus.PENDING),
        ("approved", InvoiceStatus.OPEN, ApprovalStatus.APPROVED),
        ("rejected", InvoiceStatus.VOID, ApprovalStatus.REJECTED),
    ],
)
async def test_approval_timestamps_map_to_status(make_adapter, sim, state, status, approval):
    adapter = make_adapter(KIND)
    remote_ids = ids_in_state(sim, state)
    assert remote_ids, f"seeded data holds {state} invoices"
    for invoice in await adapter.get_invoices(remote_ids[:5]):
        assert not isinstance(invoice, Exception)
        assert (invoice.status, invoice.approval_status) == (status, approval)
        assert invoice.status_raw == state
        assert invoice.type is InvoiceType.PAYABLE


async def test_json_number_amounts_become_exact_decimals(make_adapter, running, sim):
    adapter = make_adapter(KIND)
    plain = [i for i in sim.remote_ids("invoices") if i not in sim.group_ids()][:25]
    for remote_id in plain:
        record = exact(call(running, "GET", f"/v1/invoices/{remote_id}"))["result"][0]
        invoice = await adapter.get_invoice(remote_id)
        assert invoice.total is not None
        assert invoice.total.amount == record["invoice_total"]
        assert sum((item.total.amount for item in invoice.line_items), Decimal(0)) == (
            invoice.total.amount
        )
        for item, wire in zip(invoice.line_items, record["invoice_items"], strict=True):
            assert item.unit_price is not None
            assert item.unit_price.amount == wire["price"]
            assert item.quantity == Decimal(wire["qty"])
        assert invoice.subtotal is None and invoice.tax_total is None
        assert invoice.amount_due is None


async def test_configured_currency_applies(make_adapter, sim):
    remote_id = sim.remote_ids("invoices")[0]
    assert (await make_adapter(KIND).get_invoice(remote_id)).currency == "USD"
    invoice = await make_adapter(KIND, currency="EUR").get_invoice(remote_id)
    assert invoice.currency == "EUR"
    assert invoice.total is not None and invoice.total.currency == "EUR"
    assert all(
        item.total is not None and item.total.currency == "EUR" for item in invoice.line_items
    )


async def test_vendor_from_supplier_info(make_adapter, sim):
    adapter = make_adapter(KIND)
    with_id = next(r for r in sim.invoices.values() if "supplierId" in r["supplier_info"])
    invoice = await adapter.get_invoice(str(with_id["id"]))
    assert invoice.vendor_snapshot is not None
    assert invoice.vendor_id == invoice.vendor_snapshot.remote_id
    assert invoice.vendor_id == with_id["supplier_info"]["supplierId"]
    assert invoice.vendor_snapshot.email == with_id["supplier_info"]["email"]
    # Without supplierId, bills from one supplier still share one derived vendor id.
    unmapped = [r for r in sim.invoices.values() if "supplierId" not in r["supplier_info"]]
    name = unmapped[0]["supplier_info"]["name"]
    same = [str(r["id"]) for r in unmapped if r["supplier_info"]["name"] == name][:2]
    assert len(same) == 2
    first, second = [await adapter.get_invoice(i) for i in same]
    assert first.vendor_id is not None and first.vendor_id.startswith("name-")
    assert first.vendor_id == second.vendor_id
    assert first.vendor_snapshot is not None and first.vendor_snapshot.name == name


async def test_timestamps_are_utc_and_version_is_hash_id(make_adapter, sim):
    remote_id = ids_in_state(sim, "approved")[0]
    invoice = await make_adapter(KIND).get_invoice(remote_id)
    record = sim.invoices[int(remote_id)]
    assert invoice.version == record["hash_id"]
    assert invoice.created_at is not None and invoice.updated_at is not None
    assert invoice.created_at.utcoffset() is not None
    assert invoice.created_at.utcoffset().total_seconds() == 0
    assert invoice.number == record["invoice_number"]
    assert invoice.terms == record["invoice_terms"]


# --- writes -----------------------------------------------------------------------------
async def test_patch_updates_and_rotates_hash_id(make_adapter, running, sim):
    adapter = make_adapter(KIND)
    remote_id = ids_in_state(sim, "pending")[0]
    before = await adapter.get_invoice(remote_id)
    items = [{"id": "1", "qty": 2.3, "price": 0.1, "total": 0.23, "description": "Shim stock"}]
    try:
        reply = call(
            running,
            "PATCH",
            f"/v1/invoices/{remote_id}",
            json={
                "hash_id": before.version,
                "invoice_total": 1234.5,
                "invoice_items": items,
                "tags": "verified,q4-2026",
            },
        )
        assert reply.status_code == 200, reply.text
        updated = reply.json()
        assert updated["msg"] == "Record updated"
        assert updated["result"][0]["hash_id"] != before.version
        after = await adapter.get_invoice(remote_id)
        assert after.version == updated["result"][0]["hash_id"]
        assert after.updated_at is not None and before.updated_at is not None
        assert after.updated_at > before.updated_at
        assert after.total is not None and str(after.total.amount) == "1234.50"
        (item,) = after.line_items
        assert item.unit_price is not None and item.unit_price.amount == Decimal("0.10")
        assert item.total is not None and item.total.amount == Decimal("0.23")
        # quantities are not rounded to cents: a float detour would show here
        assert item.quantity == Decimal("2.3")
        assert after.tags == ("verified", "q4-2026")
        assert after.number == before.number, "omitted fields stay"
        stale = call(
            running,
            "PATCH",
            f"/v1/invoices/{remote_id}",
            json={"hash_id": before.version, "po_number": "PO-1"},
        )
        assert stale.status_code == 400
        assert stale.json()["msg"] == "Invoice has been modified"
    finally:
        reset_simulator(running)


@pytest.mark.parametrize(
    ("body", "msg"),
    [
        ({"po_number": "PO-1"}, "hash_id is required"),
        ({"hash_id": "CURRENT", "invoice_total": "12.00"}, "invoice_total must be a number"),
        ({"hash_id": "CURRENT", "invoice_date": "15/01/2024"}, "invoice_date must be a date"),
        ({"hash_id": "CURRENT", "invoice_items": [{"id": "1"}]}, "invoice_items[0].qty"),
        ({"hash_id": "CURRENT", "approved": "2026-01-01T00:00:00Z"}, "approved"),
    ],
)
async def test_patch_refusals_name_the_problem(running, sim, body, msg):
    remote_id = ids_in_state(sim, "pending")[0]
    if body.get("hash_id") == "CURRENT":
        body = {**body, "hash_id": sim.invoices[int(remote_id)]["hash_id"]}
    reply = call(running, "PATCH", f"/v1/invoices/{remote_id}", json=body)
    assert reply.status_code == 400
    assert reply.json()["status"] == "Error" and msg in reply.json()["msg"]
    assert reply.json()["result"] is None


@pytest.mark.parametrize("state", ["approved", "rejected"])
async def test_patch_of_a_decided_invoice_is_locked(running, sim, state):
    remote_id = ids_in_state(sim, state)[0]
    current = sim.invoices[int(remote_id)]["hash_id"]
    reply = call(
        running,
        "PATCH",
        f"/v1/invoices/{remote_id}",
        json={"hash_id": current, "po_number": "PO-9"},
    )
    assert reply.status_code == 400
    assert reply.json()["msg"] == "Invoice is locked"
    assert sim.invoices[int(remote_id)]["hash_id"] == current


async def test_body_that_is_not_json_is_415(running, sim):
    remote_id = ids_in_state(sim, "pending")[0]
    reply = call(
        running,
        "PATCH",
        f"/v1/invoices/{remote_id}",
        content=b"po_number=PO-1",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert reply.status_code == 415
    assert reply.json() == {"status": "Error", "msg": "Unsupported Media Type", "result": None}
    post = call(
        running, "POST", "/v1/invoices", content=b"{}", headers={"Content-Type": "text/plain"}
    )
    assert post.status_code == 415


async def test_read_only_token_reads_but_cannot_write(make_adapter, running, sim):
    remote_id = ids_in_state(sim, "pending")[0]
    invoice = await make_adapter(KIND, token=READ_ONLY_TOKEN).get_invoice(remote_id)
    assert invoice.remote_id == remote_id
    reply = call(
        running,
        "PATCH",
        f"/v1/invoices/{remote_id}",
        token=READ_ONLY_TOKEN,
        json={"hash_id": invoice.version, "po_number": "PO-1"},
    )
    assert reply.status_code == 403
    assert reply.json()["msg"] == "Forbidden"
    adapter = make_adapter(KIND, token=READ_ONLY_TOKEN)
    with pytest.raises(UpstreamForbidden):
        await adapter.client.send_json("PATCH", f"/v1/invoices/{remote_id}", {"hash_id": "x"})


async def test_ocr_document_is_empty_until_processed(make_adapter, running, sim):
    adapter = make_adapter(KIND)
    pdf = base64.b64encode(b"%PDF-1.4\n% scanned bill\n").decode()
    try:
        reply = call(
            running,
            "POST",
            "/v1/invoices",
            json={"data": pdf, "filename": "scan-0042.pdf", "type": "application/pdf"},
        )
        assert reply.status_code == 200
        body = reply.json()
        assert body["msg"] == "Document queued"
        (queued,) = body["result"]
        new_id = str(queued["id"])
        assert new_id not in sim.remote_ids("invoices")[:-1], "a new id, after every other"
        for _ in range(2):  # OCR_PENDING_READS: empty fields until processed
            pending = await adapter.get_invoice(new_id)
            assert pending.remote_id == new_id
            assert (pending.number, pending.total, pending.vendor_snapshot) == (None, None, None)
            assert pending.line_items == ()
            assert pending.status is InvoiceStatus.SUBMITTED
            assert pending.remote_data["document"]["name"] == "scan-0042.pdf"
        done = await adapter.get_invoice(new_id)
        assert done.number and done.total is not None and done.vendor_snapshot is not None
        assert done.version != pending.version
        assert done.total.amount == sum(
            (item.total.amount for item in done.line_items if item.total), Decimal(0)
        )
    finally:
        reset_simulator(running)


async def test_structured_create_then_get(make_adapter, running):
    adapter = make_adapter(KIND)
    try:
        reply = call(
            running,
            "POST",
            "/v1/invoices",
            json={
                "supplier_info": {"name": "Acme Corp", "supplierId": "SUP-900"},
                "invoice_number": "INV-2026-777",
                "invoice_date": "2026-10-20",
                "invoice_due": "2026-11-19",
                "invoice_items": [
                    {
                        "id": "1",
                        "qty": 2,
                        "price": 49.99,
                        "total": 99.98,
                        "description": "Bearing housing",
                    }
                ],
                "invoice_total": 99.98,
            },
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["msg"] == "Record created"
        created = reply.json()["result"][0]
        invoice = await adapter.get_invoice(str(created["id"]))
        assert invoice.number == "INV-2026-777"
        assert invoice.total is not None and invoice.total.amount == Decimal("99.98")
        assert invoice.vendor_id == "SUP-900"
        assert invoice.approval_status is ApprovalStatus.PENDING
        refused = call(running, "POST", "/v1/invoices", json={"hash_id": "abc"})
        assert refused.status_code == 400 and "hash_id" in refused.json()["msg"]
    finally:
        reset_simulator(running)
