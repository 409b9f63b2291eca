"""Invoicematic quirks: cents, paid_status precedence, limit=all, payments, scopes, writes."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from gateway.adapters.base import read_all_pages
from gateway.adapters.invoicematic import invoice_status
from gateway.domain.records import InvoiceQuery, InvoiceStatus, InvoiceType
from gateway.errors import UpstreamBadResponse, UpstreamNotFound, UpstreamRejected
from tests.conftest import reset_simulator, sim_control

KIND = "invoicematic"


@pytest.fixture
def running(simulators):
    return simulators.running[KIND]


@pytest.fixture
def api(running):
    """Raw HTTP to the simulator with the full-scope key, as Invoicematic's clients call it."""
    headers = {"Authorization": f"Bearer {running.simulator.token}", "Accept": "application/json"}
    with httpx.Client(base_url=running.base_url, headers=headers, timeout=5) as client:
        yield client


def seeded(running, status: str, paid_status: str) -> dict[str, Any]:
    for invoice in running.simulator.store.invoices.values():
        if (invoice["status"], invoice["paid_status"]) == (status, paid_status):
            found: dict[str, Any] = invoice
            return found
    raise AssertionError(f"no seeded {status}/{paid_status} invoice")


def new_invoice(customer_id: int, number: str, total: int) -> dict[str, Any]:
    return {
        "invoice_date": "2026-10-30",
        "due_date": "2026-11-29",
        "customer_id": customer_id,
        "invoice_number": number,
        "discount": 0,
        "discount_val": 0,
        "sub_total": total,
        "total": total,
        "tax": 0,
        "template_name": "invoice1",
        "items": [{"name": "Consulting", "description": "Advisory", "quantity": 1, "price": total}],
    }


async def test_cents_become_exact_decimals_in_the_invoice_currency(make_adapter, running, api):
    created = api.post("/api/invoices", json=new_invoice(20, "INV-T-12345", 12345))
    try:
        assert created.status_code == 201
        record = created.json()["data"]
        invoice = await make_adapter(KIND).get_invoice(str(record["id"]))
        assert invoice.total is not None and invoice.amount_due is not None
        assert str(invoice.total.amount) == "123.45"
        assert invoice.currency == invoice.total.currency == "GBP"  # customer 20: currency 2
        assert invoice.amount_due.amount == Decimal("123.45")
        assert invoice.line_items[0].unit_price is not None
        assert invoice.line_items[0].unit_price.amount == Decimal("123.45")
        assert invoice.line_items[0].description == "Consulting: Advisory"
        assert invoice.type is InvoiceType.RECEIVABLE and invoice.number == "INV-T-12345"
        assert invoice.customer_snapshot is not None
        assert invoice.customer_snapshot.name == "Kensington Legal LLP"
    finally:
        reset_simulator(running)


async def test_currency_ids_config_overrides_the_default_mapping(make_adapter, running):
    euro = next(i for i in running.simulator.store.invoices.values() if i["currency_id"] == 3)
    adapter = make_adapter(KIND, currency_ids={3: "CHF"})
    invoice = await adapter.get_invoice(str(euro["id"]))
    assert invoice.currency == "CHF"
    assert invoice.total is not None
    assert invoice.total.amount == Decimal(euro["total"]).scaleb(-2)


async def test_paid_status_precedence(make_adapter, running):
    adapter = make_adapter(KIND)
    cases = [
        (("COMPLETED", "PAID"), InvoiceStatus.PAID, False),
        (("COMPLETED", "UNPAID"), InvoiceStatus.PAID, False),  # COMPLETED wins
        (("SENT", "PARTIALLY_PAID"), InvoiceStatus.PARTIALLY_PAID, False),
        (("OVERDUE", "PARTIALLY_PAID"), InvoiceStatus.PARTIALLY_PAID, True),
        (("OVERDUE", "UNPAID"), InvoiceStatus.OPEN, True),
        (("VIEWED", "UNPAID"), InvoiceStatus.OPEN, False),
        (("DRAFT", "UNPAID"), InvoiceStatus.DRAFT, False),
    ]
    for (status, paid), expected, overdue in cases:
        record = seeded(running, status, paid)
        invoice = await adapter.get_invoice(str(record["id"]))
        assert (invoice.status, invoice.is_overdue) == (expected, overdue), (status, paid)
        assert invoice.status_raw == status


def test_unknown_words_become_unknown_with_the_raw_word():
    assert invoice_status("ARCHIVED", "UNPAID") == (InvoiceStatus.UNKNOWN, "ARCHIVED")
    assert invoice_status("SENT", "REFUNDED") == (InvoiceStatus.UNKNOWN, "REFUNDED")
    assert invoice_status("DRAFT", "PAID") == (InvoiceStatus.PAID, "DRAFT")


def test_limit_all_returns_every_row_in_one_page_with_the_envelope(api, running):
    body = api.get("/api/invoices", params={"limit": "all"}).json()
    count = len(running.simulator.store.invoices)
    assert len(body["data"]) == body["meta"]["total"] == count >= 100
    assert set(body["meta"]) == {"current_page", "from", "last_page", "per_page", "to", "total"}
    assert body["meta"]["last_page"] == 1 and body["meta"]["to"] == count
    assert body["links"]["next"] is None and body["links"]["prev"] is None
    paged = api.get("/api/invoices", params={"page": 2}).json()
    assert len(paged["data"]) == paged["meta"]["per_page"] == 10  # documented default
    assert paged["links"]["prev"].endswith("?page=1")
    assert paged["links"]["next"].endswith("?page=3")


async def test_lists_in_ascending_id_pages_with_exact_totals(make_adapter, running):
    adapter = make_adapter(KIND)
    first = await adapter.list_invoices(InvoiceQuery(), 0)
    second = await adapter.list_invoices(InvoiceQuery(), 1)
    ids = [int(i.remote_id) for i in [*first.items, *second.items]]
    assert ids == sorted(running.simulator.store.invoices)
    assert len(first.items) == 100 and first.has_more and not second.has_more
    assert first.total == len(ids)


async def test_pushes_down_customer_and_both_dates_exactly(make_adapter, running):
    adapter = make_adapter(KIND)
    customer = seeded(running, "SENT", "PARTIALLY_PAID")["customer_id"]
    query = InvoiceQuery(
        customer_id=str(customer), issued_from=date(2025, 6, 1), issued_to=date(2026, 12, 31)
    )
    expected = {
        str(i["id"])
        for i in running.simulator.store.invoices.values()
        if i["customer_id"] == customer and i["invoice_date"] >= "2025-06-01"
    }
    page = await adapter.list_invoices(query, 0)
    assert {i.remote_id for i in page.items} == expected
    assert page.total == len(expected)
    # One end of the range only, or a status: the gateway must re-filter, so no total.
    assert (
        await adapter.list_invoices(InvoiceQuery(issued_from=date(2026, 1, 1)), 0)
    ).total is None
    open_query = InvoiceQuery(statuses=frozenset({InvoiceStatus.OPEN}))
    opened = await read_all_pages(lambda n: adapter.list_invoices(open_query, n))
    every_open = [
        i
        for i in await read_all_pages(lambda n: adapter.list_invoices(InvoiceQuery(), n))
        if open_query.matches(i)
    ]
    assert {i.remote_id for i in every_open} <= {i.remote_id for i in opened}
    # pushed down as `status=UNPAID`: a superset (unpaid drafts too), never a loss
    assert {i.remote_data["paid_status"] for i in opened} == {"UNPAID"}
    assert len(opened) < len(running.simulator.store.invoices)
    payable = await adapter.list_invoices(InvoiceQuery(type=InvoiceType.PAYABLE), 0)
    assert (payable.items, payable.total) == ([], 0)


async def test_payments_add_up_to_total_minus_amount_due(make_adapter):
    adapter = make_adapter(KIND)
    invoices = await read_all_pages(lambda page: adapter.list_invoices(InvoiceQuery(), page))
    grouped = await adapter.payments_for_invoices([i.remote_id for i in invoices])
    counts = set()
    for invoice in invoices:
        assert invoice.total is not None and invoice.amount_due is not None
        payments = grouped[invoice.remote_id]
        paid = sum((p.amount.amount for p in payments if p.amount), Decimal(0))
        assert paid == invoice.total.amount - invoice.amount_due.amount, invoice.remote_id
        assert all(p.amount and p.amount.currency == invoice.currency for p in payments)
        if invoice.status is InvoiceStatus.PARTIALLY_PAID:
            counts.add(len(payments))
    assert counts == {1, 2, 3}


async def test_payments_for_invoices_is_one_upstream_call(make_adapter, running):
    adapter = make_adapter(KIND)
    ids = running.simulator.remote_ids("invoices")[:40]
    sim_control(running, "DELETE", "/_sim/requests")
    grouped = await adapter.payments_for_invoices(ids)
    counts = sim_control(running, "GET", "/_sim/requests")
    assert (counts["total"], counts["routes"]) == (1, {"GET /api/payments": 1})
    assert set(grouped) == set(ids)


async def test_many_customers_are_one_list_read(make_adapter, running):
    adapter = make_adapter(KIND)
    sim_control(running, "DELETE", "/_sim/requests")
    found = await adapter.get_customers(["3", "1", "20", "999999", "3"])
    assert sim_control(running, "GET", "/_sim/requests")["total"] == 1
    assert [getattr(c, "remote_id", None) for c in found] == ["3", "1", "20", None, "3"]
    assert isinstance(found[3], UpstreamNotFound)
    london = found[2]
    assert not isinstance(london, Exception) and london.address is not None
    assert (london.address.city, london.address.country) == ("London", "GB")


async def test_a_payment_lowers_due_amount_and_flips_the_status(
    make_adapter, running, api: httpx.Client
):
    adapter = make_adapter(KIND)
    record = seeded(running, "SENT", "UNPAID")
    invoice_id, total = record["id"], record["total"]

    def pay(number: str, amount: int) -> httpx.Response:
        return api.post(
            "/api/payments",
            json={
                "payment_date": "2026-11-01",
                "customer_id": record["customer_id"],
                "amount": amount,
                "payment_number": number,
                "invoice_id": invoice_id,
                "payment_method_id": 1,
            },
        )

    try:
        assert pay("PAY-T-1", 1000).status_code == 201
        partly = await adapter.get_invoice(str(invoice_id))
        assert partly.status is InvoiceStatus.PARTIALLY_PAID
        assert partly.amount_due is not None and partly.total is not None
        assert partly.amount_due.amount == partly.total.amount - Decimal("10.00")
        too_much = pay("PAY-T-2", total)
        assert too_much.status_code == 422 and "amount" in too_much.json()["errors"]
        assert pay("PAY-T-2", total - 1000).status_code == 201
        paid = await adapter.get_invoice(str(invoice_id))
        assert (paid.status, paid.status_raw) == (InvoiceStatus.PAID, "COMPLETED")
        assert paid.amount_due is not None and paid.amount_due.amount == 0
        payments = (await adapter.payments_for_invoices([str(invoice_id)]))[str(invoice_id)]
        assert [p.number for p in payments] == ["PAY-T-1", "PAY-T-2"]
    finally:
        reset_simulator(running)


async def test_idempotency_key_replays_the_first_response(running, api):
    headers = {"Idempotency-Key": "retry-42"}
    before = len(running.simulator.store.invoices)
    try:
        first = api.post("/api/invoices", json=new_invoice(1, "INV-T-IDEM", 5000), headers=headers)
        again = api.post("/api/invoices", json=new_invoice(1, "INV-T-OTHER", 9000), headers=headers)
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json()
        assert len(running.simulator.store.invoices) == before + 1
        fresh = api.post(
            "/api/invoices",
            json=new_invoice(1, "INV-T-IDEM", 5000),
            headers={"Idempotency-Key": "retry-43"},
        )
        assert fresh.status_code == 422  # a new key really performs (and the number is taken)
    finally:
        reset_simulator(running)


async def test_read_only_key_gets_403_naming_the_scope(running, make_adapter):
    token = running.simulator.read_only_token
    adapter = make_adapter(KIND, token=token)
    await adapter.check()  # /api/me needs no scope
    assert (await adapter.list_invoices(InvoiceQuery(), 0)).items
    response = httpx.post(
        running.base_url + "/api/invoices",
        json=new_invoice(1, "INV-T-RO", 100),
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    assert response.status_code == 403
    assert response.json() == {
        "error": "forbidden",
        "message": "Your API key does not have the required scope(s): invoices:write",
    }
    items = httpx.get(
        running.base_url + "/api/items", headers={"Authorization": f"Bearer {token}"}, timeout=5
    )
    assert items.status_code == 403 and items.json()["message"].endswith("items:read")


async def test_duplicate_invoice_number_is_422_naming_the_field(make_adapter, running):
    adapter = make_adapter(KIND)
    taken = running.simulator.store.invoices[1]["invoice_number"]
    before = len(running.simulator.store.invoices)
    with pytest.raises(UpstreamRejected) as caught:
        await adapter.client.send_json("POST", "/api/invoices", new_invoice(1, taken, 100))
    assert caught.value.status == 422
    assert caught.value.field_errors == {
        "invoice_number": ["The invoice number has already been taken."]
    }
    assert len(running.simulator.store.invoices) == before


async def test_a_record_breaking_the_contract_names_the_field(make_adapter, running):
    record = running.simulator.store.invoices[5]
    record["total"] = "123.45"  # a string where the contract has integer cents
    try:
        with pytest.raises(UpstreamBadResponse, match="'total'"):
            await make_adapter(KIND).get_invoice("5")
    finally:
        reset_simulator(running)
