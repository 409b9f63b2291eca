"""Cloud Billing quirks: rounding, the tenant header, status filters, draft-only writes."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import httpx
import pytest

from gateway.adapters.base import read_all_pages
from gateway.domain.records import InvoiceQuery, InvoiceStatus, InvoiceType
from gateway.errors import UpstreamBadResponse, UpstreamForbidden, UpstreamNotFound
from gateway.simulators.cloudbilling import sign_jwt, user_token
from tests.conftest import reset_simulator, sim_control

KIND = "cloudbilling"
CENT = Decimal("0.01")


def round2(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@pytest.fixture
def running(simulators):
    return simulators.running[KIND]


@pytest.fixture
def api(running):
    """Raw HTTP to the simulator, as the upstream's own clients would call it."""
    headers = {"Authorization": f"Bearer {running.simulator.token}", "x-tenant-slug": "acme"}
    return httpx.Client(base_url=running.base_url, headers=headers, timeout=5)


def first_with_status(running, status: str) -> str:
    for invoice in running.simulator.tenants["acme"].invoices.values():
        if invoice["status"] == status:
            return str(invoice["id"])
    raise AssertionError(f"no seeded {status} invoice")


async def test_totals_follow_the_rounding_formulas(make_adapter):
    adapter = make_adapter(KIND)
    invoices = await read_all_pages(lambda page: adapter.list_invoices(InvoiceQuery(), page))
    rounded_lines = 0
    for invoice in invoices:
        subtotal = tax_total = Decimal(0)
        for line in invoice.line_items:
            assert line.quantity is not None and line.unit_price and line.tax_rate is not None
            assert line.total is not None and line.tax_amount is not None
            net = line.quantity * line.unit_price.amount
            gross = net * (1 + line.tax_rate / 100)
            rounded_lines += gross != round2(gross)
            assert line.total.amount == round2(gross)
            assert line.tax_amount.amount == line.total.amount - round2(net)
            subtotal += round2(net)
            tax_total += round2(net * line.tax_rate / 100)
        assert invoice.subtotal and invoice.tax_total and invoice.total
        assert invoice.subtotal.amount == subtotal, invoice.remote_id
        assert invoice.tax_total.amount == tax_total, invoice.remote_id
        assert invoice.total.amount == subtotal + tax_total, invoice.remote_id
        assert invoice.total.currency == invoice.currency
    assert rounded_lines > 0, "some seeded line must need rounding"
    assert {invoice.currency for invoice in invoices} >= {"USD", "EUR", "GBP"}


async def test_normalizes_statuses_amount_due_and_snapshot(make_adapter, running):
    adapter = make_adapter(KIND)
    paid = await adapter.get_invoice(first_with_status(running, "paid"))
    assert paid.status is InvoiceStatus.PAID and paid.status_raw == "paid"
    assert paid.amount_due is not None and paid.amount_due.amount == 0
    issued = await adapter.get_invoice(first_with_status(running, "issued"))
    assert issued.status is InvoiceStatus.OPEN and issued.type is InvoiceType.RECEIVABLE
    assert issued.amount_due == issued.total
    assert issued.customer_snapshot is not None
    assert issued.customer_snapshot.remote_id == issued.customer_id
    assert issued.version == issued.remote_data["updated_at"]
    assert issued.created_at is not None and issued.created_at.utcoffset() is not None


async def test_unknown_status_and_broken_record(make_adapter, running):
    adapter = make_adapter(KIND)
    invoices = running.simulator.tenants["acme"].invoices
    unknown_id, broken_id = first_with_status(running, "issued"), first_with_status(running, "paid")
    try:
        invoices[unknown_id]["status"] = "disputed"
        invoices[broken_id]["total"] = "205.18"
        invoice = await adapter.get_invoice(unknown_id)
        assert invoice.status is InvoiceStatus.UNKNOWN and invoice.status_raw == "disputed"
        with pytest.raises(UpstreamBadResponse, match="'total'"):
            await adapter.get_invoice(broken_id)
    finally:
        reset_simulator(running)


async def test_tenants(make_adapter, running, api):
    sim = running.simulator
    acme = {i.remote_id for i in (await make_adapter(KIND).list_invoices(InvoiceQuery(), 0)).items}
    other = make_adapter(KIND, tenant_slug=sim.member_tenant_slug)
    theirs = {i.remote_id for i in (await other.list_invoices(InvoiceQuery(), 0)).items}
    assert theirs and not theirs & acme
    with pytest.raises(UpstreamForbidden) as forbidden:
        await make_adapter(KIND, tenant_slug=sim.foreign_tenant_slug).check()
    assert forbidden.value.status == 403
    with pytest.raises(UpstreamNotFound) as unknown:
        await make_adapter(KIND, tenant_slug="no-such-workspace").check()
    assert unknown.value.status == 404
    # Assumed: a valid JWT without the header is an incomplete request, 400 invalid_request.
    response = api.get("/customers", headers={"x-tenant-slug": ""})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_jwt_signature_is_verified(api):
    good = user_token()
    header, payload, signature = good.split(".")
    assert api.get("/customers").status_code == 200
    forged = sign_jwt({"sub": "x", "role": "authenticated", "exp": 4102444800}, b"guess")
    expired = sign_jwt({"sub": "x", "role": "authenticated", "exp": 1})
    for token in (f"{header}.{payload}.{signature[:-4]}AAAA", forged, expired, "not-a-jwt"):
        response = api.get("/customers", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"


def test_status_filter_forms_agree(api):
    repeated = api.get("/invoices", params=[("status", "draft"), ("status", "paid")]).json()
    comma = api.get("/invoices", params={"status": "draft,paid"}).json()
    assert repeated == comma
    assert repeated["meta"]["status"] == ["draft", "paid"]
    assert {i["status"] for i in repeated["data"]} == {"draft", "paid"}
    assert "status" not in api.get("/invoices", params={"limit": 1}).json()["meta"]
    unknown = api.get("/invoices", params={"status": "draft,open"})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize("limit", ["0", "101", "ten"])
def test_limit_out_of_range_is_invalid(api, limit):
    response = api.get("/customers", params={"limit": limit})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


async def test_status_pushdown_equals_local_filtering(make_adapter, running):
    adapter = make_adapter(KIND)
    everything = await read_all_pages(lambda page: adapter.list_invoices(InvoiceQuery(), page))
    query = InvoiceQuery(statuses=frozenset({InvoiceStatus.DRAFT, InvoiceStatus.OPEN}))
    pushed = await read_all_pages(lambda page: adapter.list_invoices(query, page))
    expected = [i.remote_id for i in everything if query.matches(i)]
    assert [i.remote_id for i in pushed] == expected
    assert (await adapter.list_invoices(query, 0)).total == len(expected)
    sim_control(running, "DELETE", "/_sim/requests")
    nothing = InvoiceQuery(statuses=frozenset({InvoiceStatus.SUBMITTED}))
    page = await adapter.list_invoices(nothing, 0)
    assert (page.items, page.total, page.has_more) == ([], 0, False)
    assert sim_control(running, "GET", "/_sim/requests")["total"] == 0


async def test_partial_pushdown_reports_no_total(make_adapter):
    adapter = make_adapter(KIND)
    query = InvoiceQuery(statuses=frozenset({InvoiceStatus.PAID}), customer_id="someone")
    assert (await adapter.list_invoices(query, 0)).total is None


def test_only_drafts_change(api, running):
    issued, paid = first_with_status(running, "issued"), first_with_status(running, "paid")
    lines = {"lines": [{"description": "Consulting", "quantity": 2, "unit_price": 150}]}
    try:
        for invoice_id, body in ((issued, lines), (paid, {"status": "paid"})):
            response = api.patch(f"/invoices/{invoice_id}", json=body)
            assert response.status_code == 409
            assert response.json()["error"]["code"] == "conflict"
        assert api.delete(f"/invoices/{issued}").status_code == 409
        marked = api.patch(f"/invoices/{issued}", json={"status": "paid"})
        assert marked.status_code == 200 and marked.json()["data"]["status"] == "paid"
    finally:
        reset_simulator(running)


async def test_draft_life_cycle(api, running, make_adapter):
    customer = next(iter(running.simulator.tenants["acme"].customers))
    try:
        created = api.post(
            "/invoices",
            json={
                "customer_id": customer,
                "status": "draft",
                "description": "Widgets",
                "quantity": 1.5,
                "unit_price": 19.99,
                "tax_rate": 8.875,
            },
        )
        assert created.status_code == 201
        draft = created.json()["data"]
        assert (draft["subtotal"], draft["tax_total"], draft["total"]) == (29.99, 2.66, 32.65)
        edited = api.patch(f"/invoices/{draft['id']}", json={"quantity": 3, "status": "issued"})
        assert edited.json()["data"]["status"] == "issued"
        invoice = await make_adapter(KIND).get_invoice(draft["id"])
        assert invoice.total is not None and invoice.total.amount == Decimal("65.29")
        other = api.post(
            "/invoices",
            json={
                "customer_id": customer,
                "status": "draft",
                "description": "Scrap",
                "unit_price": 1,
            },
        )
        assert api.delete(f"/invoices/{other.json()['data']['id']}").status_code == 204
    finally:
        reset_simulator(running)


def test_create_validation(api, running):
    customer = next(iter(running.simulator.tenants["acme"].customers))
    line = {"description": "Seat", "quantity": 1, "unit_price": 10, "tax_rate": 20}
    cases = [
        {"customer_id": customer, "lines": [line] * 51},
        {"customer_id": running.simulator.missing_id("customers"), "lines": [line]},
        {"lines": [line]},
        {"customer_id": customer},
    ]
    for body in cases:
        response = api.post("/invoices", json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == "validation_failed"
    assert api.post("/invoices", content=b"[1,").status_code == 400


async def test_snapshot_survives_customer_rename(api, running, make_adapter):
    adapter = make_adapter(KIND)
    invoice_id = first_with_status(running, "paid")
    before = await adapter.get_invoice(invoice_id)
    assert before.customer_id and before.customer_snapshot
    try:
        renamed = api.patch(
            f"/customers/{before.customer_id}", json={"name": "Renamed", "email": ""}
        )
        assert renamed.status_code == 200
        customer = await adapter.get_customer(before.customer_id)
        assert (customer.name, customer.email) == ("Renamed", None)
        after = await adapter.get_invoice(invoice_id)
        assert after.customer_snapshot == before.customer_snapshot
    finally:
        reset_simulator(running)


async def test_many_customers_read_the_list(make_adapter, running):
    adapter = make_adapter(KIND)
    ids = [*running.simulator.remote_ids("customers")[:6], running.simulator.missing_id("c")]
    sim_control(running, "DELETE", "/_sim/requests")
    results = await adapter.get_customers(ids)
    counts = sim_control(running, "GET", "/_sim/requests")["routes"]
    assert counts == {"GET /customers": 1}
    assert [c.remote_id for c in results[:6] if not isinstance(c, Exception)] == ids[:6]
    assert isinstance(results[6], UpstreamNotFound)
    few = await adapter.get_customers(ids[:2])
    assert [c.remote_id for c in few if not isinstance(c, Exception)] == ids[:2]
