"""Makini quirks, against the Makini simulator over real HTTP (`docs/upstreams/makini.md`)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from gateway.adapters.base import read_all_pages
from gateway.domain.records import Invoice, InvoiceQuery, InvoiceStatus, InvoiceType, Money
from gateway.errors import UpstreamBadResponse, UpstreamNotFound, UpstreamRejected
from tests.conftest import reset_simulator, sim_control

KIND = "makini"


@pytest.fixture
def running(simulators):
    return simulators.running[KIND]


@pytest.fixture
def sim(running):
    return running.simulator


@pytest.fixture
async def api(running, sim):
    async with httpx.AsyncClient(
        base_url=running.base_url, headers={"Authorization": f"Bearer {sim.token}"}
    ) as client:
        yield client


async def all_invoices(adapter, query: InvoiceQuery | None = None) -> list[Invoice]:
    return await read_all_pages(lambda page: adapter.list_invoices(query or InvoiceQuery(), page))


def code_of(sim, record: dict[str, Any]) -> str:
    return str(sim.data.statuses[record["statusKey"]]["code"])


def first_with_code(sim, code: str) -> dict[str, Any]:
    return next(r for r in sim.data.invoices.values() if code_of(sim, r) == code)


def route_counts(running) -> dict[str, int]:
    routes: dict[str, int] = sim_control(running, "GET", "/_sim/requests")["routes"]
    return routes


# --- normalization ------------------------------------------------------------------------
async def test_string_amounts_become_exact_decimals(make_adapter, running, api):
    body = {
        "invoiceNumber": "SI-2026-09001",
        "customerKey": running.simulator.remote_ids("customers")[0],
        "invoiceDate": "2026-10-20T00:00:00Z",
        "lineItem": [
            {"code": "SRV-LAB", "description": "Labour", "quantity": "10", "price": "150.00"}
        ],
    }
    try:
        reply = await api.post("/api/invoices", json=body)
        assert reply.status_code == 200
        created = reply.json()["data"]
        assert created["totalGrossValue"] == "1500.00"  # strings stay strings on the wire
        invoice = await make_adapter(KIND).get_invoice(created["key"])
        assert invoice.total == Money(Decimal("1500.00"), "USD")
        assert str(invoice.total.amount) == "1500.00"
        assert invoice.subtotal == Money(Decimal("1500.00"), "USD")
        line = invoice.line_items[0]
        assert line.quantity == Decimal("10")
        assert line.unit_price == Money(Decimal("150.00"), "USD")
        assert line.total == Money(Decimal("1500.00"), "USD")
        assert line.sku == "SRV-LAB"
    finally:
        reset_simulator(running)


async def test_amounts_match_the_wire_to_the_cent(make_adapter, sim):
    adapter = make_adapter(KIND)
    invoices = await all_invoices(adapter)
    for invoice in invoices:
        raw = invoice.remote_data
        assert invoice.total is not None
        assert invoice.total.amount == Decimal(raw["totalGrossValue"])
        assert invoice.tax_total is not None
        assert invoice.tax_total.amount == Decimal(raw["totalTaxValue"])
        assert sum(
            (line.total.amount for line in invoice.line_items if line.total), Decimal(0)
        ) == Decimal(raw["totalNetValue"])


async def test_status_key_resolves_through_the_status_list(make_adapter, sim):
    adapter = make_adapter(KIND)
    partial = await adapter.get_invoice(first_with_code(sim, "partially_paid")["key"])
    assert partial.status is InvoiceStatus.PARTIALLY_PAID
    assert partial.status_raw == "partially_paid"
    assert partial.amount_due is None
    paid = await adapter.get_invoice(first_with_code(sim, "paid")["key"])
    assert paid.status is InvoiceStatus.PAID
    assert paid.amount_due == Money.of(0, paid.currency)
    cancelled = await adapter.get_invoice(first_with_code(sim, "cancelled")["key"])
    assert cancelled.status is InvoiceStatus.VOID


async def test_extra_status_code_becomes_unknown_with_raw_word(make_adapter, sim):
    adapter = make_adapter(KIND)
    invoices = await all_invoices(adapter)
    held = [invoice for invoice in invoices if invoice.status_raw == "on_hold"]
    assert held, "the seed uses the extra code on a few invoices"
    assert {invoice.status for invoice in held} == {InvoiceStatus.UNKNOWN}


async def test_currency_key_resolves_to_iso_code(make_adapter, sim):
    adapter = make_adapter(KIND)
    euro_key = next(k for k, c in sim.data.currencies.items() if c["code"] == "EUR")
    record = next(r for r in sim.data.invoices.values() if r["currencyKey"] == euro_key)
    invoice = await adapter.get_invoice(record["key"])
    assert invoice.currency == "EUR"
    assert invoice.total is not None and invoice.total.currency == "EUR"
    assert all(line.unit_price.currency == "EUR" for line in invoice.line_items if line.unit_price)


async def test_unknown_status_and_currency_keys_do_not_fail(make_adapter, running, sim):
    remote_id = sim.remote_ids("invoices")[5]
    record = sim.data.invoices[remote_id]
    try:
        record["statusKey"] = "07999999999999"
        record["currencyKey"] = "01999999999999"
        invoice = await make_adapter(KIND, currency="CAD").get_invoice(remote_id)
        assert invoice.status is InvoiceStatus.UNKNOWN
        assert invoice.status_raw == "07999999999999"
        assert invoice.currency == "CAD"  # the source's configured currency
    finally:
        reset_simulator(running)


async def test_both_directions_and_their_parties(make_adapter, sim):
    invoices = await all_invoices(make_adapter(KIND))
    assert {invoice.type for invoice in invoices} == set(InvoiceType)
    for invoice in invoices:
        raw = invoice.remote_data
        sale = bool(raw["customerKey"] or raw["salesOrderKey"])
        assert invoice.type is (InvoiceType.RECEIVABLE if sale else InvoiceType.PAYABLE)
        assert invoice.customer_id == raw["customerKey"]
        assert invoice.vendor_id == raw["vendorKey"]
        assert invoice.purchase_order_number == raw["poKey"]
    bill = next(i for i in invoices if i.type is InvoiceType.PAYABLE and i.vendor_id)
    vendor = await make_adapter(KIND).get_vendor(bill.vendor_id)
    assert vendor.name == sim.data.vendors[bill.vendor_id]["name"]


async def test_dates_times_and_version(make_adapter, sim):
    record = next(
        r for r in sim.data.invoices.values() if not r["invoiceDate"].endswith("00:00:00Z")
    )
    invoice = await make_adapter(KIND).get_invoice(record["key"])
    assert invoice.issue_date == date.fromisoformat(record["invoiceDate"][:10])
    assert invoice.due_date == date.fromisoformat(record["dueDate"][:10])
    assert invoice.created_at is not None and invoice.created_at.utcoffset() is not None
    assert invoice.updated_at == datetime.fromisoformat(record["updatedAt"])
    assert invoice.version == record["updatedAt"]
    assert invoice.number == record["invoiceNumber"]
    assert invoice.remote_data["key"] == record["key"]


async def test_record_breaking_the_contract_names_the_field(make_adapter, running, sim):
    remote_id = sim.remote_ids("invoices")[2]
    try:
        sim.data.invoices[remote_id]["totalGrossValue"] = 1500.5  # a JSON number, not a string
        with pytest.raises(UpstreamBadResponse, match="totalGrossValue"):
            await make_adapter(KIND).get_invoice(remote_id)
        del sim.data.invoices[remote_id]["lineItems"]
        sim.data.invoices[remote_id]["totalGrossValue"] = "1.00"
        with pytest.raises(UpstreamBadResponse, match="lineItems"):
            await make_adapter(KIND).get_invoice(remote_id)
    finally:
        reset_simulator(running)


async def test_status_update_shows_in_the_adapter(make_adapter, running, sim, api):
    record = first_with_code(sim, "open")
    paid_key = next(k for k, s in sim.data.statuses.items() if s["code"] == "paid")
    adapter = make_adapter(KIND)
    before = await adapter.get_invoice(record["key"])
    try:
        reply = await api.put(f"/api/invoices/{record['key']}/status", json={"status": paid_key})
        assert reply.status_code == 200
        after = await adapter.get_invoice(record["key"])
        assert after.status is InvoiceStatus.PAID
        assert after.version != before.version
        bad = await api.put(f"/api/invoices/{record['key']}/status", json={"status": "open"})
        assert bad.status_code == 422
        assert "status" in bad.json()["errors"]
    finally:
        reset_simulator(running)


# --- push-down ------------------------------------------------------------------------------
async def test_pushdown_gives_the_same_records_as_local_filtering(make_adapter, sim):
    adapter = make_adapter(KIND)
    everything = await all_invoices(adapter)
    sale = next(i for i in everything if i.customer_id)
    bill = next(i for i in everything if i.vendor_id)
    issued = sorted(i.issue_date for i in everything if i.issue_date)
    queries = [
        InvoiceQuery(customer_id=sale.customer_id),
        InvoiceQuery(vendor_id=bill.vendor_id),
        InvoiceQuery(issued_from=issued[60]),
        InvoiceQuery(issued_to=issued[60]),
        InvoiceQuery(issued_from=issued[20], issued_to=issued[90]),
        InvoiceQuery(statuses=frozenset({InvoiceStatus.PARTIALLY_PAID})),
        InvoiceQuery(statuses=frozenset({InvoiceStatus.PAID}), issued_from=issued[100]),
        InvoiceQuery(customer_id=sale.customer_id, type=InvoiceType.RECEIVABLE),
    ]
    for query in queries:
        expected = [i.remote_id for i in everything if query.matches(i)]
        assert expected, query
        first = await adapter.list_invoices(query, 0)
        pushed = await all_invoices(adapter, query)
        # everything was pushed down: the upstream's records are exactly the answer
        assert [i.remote_id for i in pushed] == expected, query
        assert first.total == len(expected), query


async def test_partial_pushdown_reports_no_total(make_adapter):
    adapter = make_adapter(KIND)
    everything = await all_invoices(adapter)
    for query in (
        InvoiceQuery(type=InvoiceType.PAYABLE),
        InvoiceQuery(statuses=frozenset({InvoiceStatus.OPEN, InvoiceStatus.PAID})),
        InvoiceQuery(statuses=frozenset({InvoiceStatus.UNKNOWN})),
    ):
        page = await adapter.list_invoices(query, 0)
        assert page.total is None
        got = [i.remote_id for i in await all_invoices(adapter, query) if query.matches(i)]
        assert got == [i.remote_id for i in everything if query.matches(i)]


async def test_issued_to_includes_the_whole_last_day(make_adapter, sim):
    record = next(r for r in sim.data.invoices.values() if r["invoiceDate"][11:13] >= "12")
    day = date.fromisoformat(record["invoiceDate"][:10])
    adapter = make_adapter(KIND)
    through = await all_invoices(adapter, InvoiceQuery(issued_to=day))
    assert record["key"] in {i.remote_id for i in through}
    from_day = await all_invoices(adapter, InvoiceQuery(issued_from=day))
    assert record["key"] in {i.remote_id for i in from_day}


async def test_status_set_with_no_status_key_costs_no_invoice_call(make_adapter, running, sim):
    adapter = make_adapter(KIND)
    cancelled = next(k for k, s in sim.data.statuses.items() if s["code"] == "cancelled")
    try:
        del sim.data.statuses[cancelled]
        sim_control(running, "DELETE", "/_sim/requests")
        page = await adapter.list_invoices(
            InvoiceQuery(statuses=frozenset({InvoiceStatus.VOID})), 0
        )
        assert (page.items, page.total, page.has_more) == ([], 0, False)
        assert "GET /api/invoices" not in route_counts(running)
    finally:
        reset_simulator(running)


# --- prefixes, lists, lookups -----------------------------------------------------------------
async def test_erp_prefix_serves_the_same_data(make_adapter, running):
    default = await make_adapter(KIND).list_invoices(InvoiceQuery(), 0)
    sim_control(running, "DELETE", "/_sim/requests")
    erp = make_adapter(KIND, path_prefix="/api/erp")
    page = await erp.list_invoices(InvoiceQuery(), 0)
    assert [i.remote_id for i in page.items] == [i.remote_id for i in default.items]
    await erp.check()
    counts = route_counts(running)
    assert counts.get("GET /api/erp/invoices") == 1
    assert counts.get("GET /api/erp/currencies") == 2  # lookup table, then check()
    assert "GET /api/invoices" not in counts


async def test_per_page_default_and_clamp(api):
    default = (await api.get("/api/invoices")).json()
    assert len(default["data"]) == 15 and default["meta"]["per_page"] == 15
    big = (await api.get("/api/invoices", params={"per_page": 500, "page": 2})).json()
    assert big["meta"]["per_page"] == 100
    assert len(big["data"]) == big["meta"]["total"] - 100
    assert big["meta"]["from"] == 101 and big["meta"]["last_page"] == 2
    assert big["links"]["next"] is None and big["links"]["prev"].endswith("page=1")
    assert set(big["meta"]) == {
        "current_page",
        "from",
        "last_page",
        "path",
        "per_page",
        "to",
        "total",
    }


async def test_sort_ascending_descending_and_default(api, sim):
    default = (await api.get("/api/invoices", params={"per_page": 100})).json()["data"]
    assert [r["key"] for r in default] == sim.remote_ids("invoices")[:100]
    desc = await api.get("/api/invoices", params={"per_page": 100, "sort[totalGrossValue]": 1})
    amounts = [Decimal(r["totalGrossValue"]) for r in desc.json()["data"]]
    assert amounts == sorted(amounts, reverse=True)
    assert amounts[0] == max(Decimal(r["totalGrossValue"]) for r in sim.data.invoices.values())
    asc = await api.get("/api/invoices", params={"per_page": 100, "sort[invoiceDate]": 0})
    dates = [r["invoiceDate"] for r in asc.json()["data"]]
    assert dates == sorted(dates)


async def test_filter_operators_and_match_modes(api, sim):
    params = [
        ("filter[invoiceNumber:startsWith]", "si-"),
        ("filter[totalGrossValue:gt]", "5000"),
        ("per_page", "100"),
    ]
    both = (await api.get("/api/invoices", params=params)).json()
    assert both["data"] and all(
        r["invoiceNumber"].startswith("SI-") and Decimal(r["totalGrossValue"]) > 5000
        for r in both["data"]
    )
    either = (await api.get("/api/invoices", params=[*params, ("filterMatch", "any")])).json()
    assert either["meta"]["total"] > both["meta"]["total"]
    unknown = await api.get("/api/invoices", params={"filter[colour]": "red"})
    assert unknown.status_code == 422
    assert "filter[colour]" in unknown.json()["errors"]


async def test_errors_in_laravel_shapes(running, api):
    anonymous = httpx.get(running.base_url + "/api/invoices", timeout=5)
    assert (anonymous.status_code, anonymous.json()) == (401, {"message": "Unauthenticated."})
    missing = await api.get(f"/api/erp/invoices/{running.simulator.missing_id('invoices')}")
    assert (missing.status_code, missing.json()) == (404, {"message": "Not found."})


async def test_create_422_names_the_field(make_adapter, running):
    adapter = make_adapter(KIND)
    try:
        with pytest.raises(UpstreamRejected) as caught:
            await adapter.client.send_json(
                "POST",
                "/api/invoices",
                {
                    "customerKey": "00000000000000",
                    "invoiceDate": "yesterday",
                    "lineItem": [{"quantity": 2, "price": "9.99"}],
                },
            )
        assert caught.value.status == 422
        fields = caught.value.field_errors
        assert {"invoiceNumber", "customerKey", "invoiceDate", "lineItem.0.quantity"} <= set(fields)
        assert fields["invoiceNumber"] == ["The invoice number field is required."]
        with pytest.raises(UpstreamRejected) as caught:
            await adapter.client.send_json("POST", "/api/customers", {"code": "X1"})
        assert set(caught.value.field_errors) == {"name"}
    finally:
        reset_simulator(running)


async def test_customer_create_and_update(make_adapter, running, api):
    try:
        created = await api.post("/api/customers", json={"name": "Acme Rail", "code": "C77"})
        key = created.json()["data"]["key"]
        updated = await api.put(f"/api/customers/{key}", json={"name": "Acme Rail Ltd."})
        assert updated.status_code == 200
        customer = await make_adapter(KIND).get_customer(key)
        assert customer.name == "Acme Rail Ltd."
        taken = await api.post("/api/customers", json={"name": "Other", "code": "C77"})
        assert taken.status_code == 422 and "code" in taken.json()["errors"]
    finally:
        reset_simulator(running)


async def test_lookup_tables_are_fetched_once_for_many_pages(make_adapter, running, sim):
    adapter = make_adapter(KIND)
    sim_control(running, "DELETE", "/_sim/requests")
    invoices = await all_invoices(adapter)
    await adapter.get_invoice(sim.remote_ids("invoices")[0])
    await adapter.list_invoices(InvoiceQuery(statuses=frozenset({InvoiceStatus.DRAFT})), 0)
    counts = route_counts(running)
    assert len(invoices) == len(sim.data.invoices) > 100
    assert counts["GET /api/invoices"] == 3
    assert counts["GET /api/statuses/invoices"] == 1
    assert counts["GET /api/currencies"] == 1


async def test_many_customers_read_the_list_once(make_adapter, running, sim):
    adapter = make_adapter(KIND)
    ids = sim.remote_ids("customers")[:6]
    missing = sim.missing_id("customers")
    sim_control(running, "DELETE", "/_sim/requests")
    found = await adapter.get_customers([*ids, missing, ids[0]])
    assert [c.remote_id for c in found[:6]] == ids
    assert isinstance(found[6], UpstreamNotFound)
    assert found[7].remote_id == ids[0]
    counts = route_counts(running)
    assert counts == {"GET /api/customers": 1}
    sim_control(running, "DELETE", "/_sim/requests")
    few = await adapter.get_vendors(sim.remote_ids("vendors")[:2])
    assert [v.name for v in few] == [sim.data.vendors[v.remote_id]["name"] for v in few]
    assert route_counts(running) == {"GET /api/vendors/{key}": 2}


async def test_customer_address_comes_from_billing_address(make_adapter, sim):
    remote_id = sim.remote_ids("customers")[0]
    customer = await make_adapter(KIND).get_customer(remote_id)
    billing = sim.data.customers[remote_id]["billingAddress"]
    assert customer.address is not None
    assert (customer.address.city, customer.address.postal_code) == (
        billing["city"],
        billing["postalCode"],
    )
