"""`invoices(orderBy:)` and the v3 filters, over real HTTP to the four simulators: paging an
ordered list returns exactly the invoices of sorting the simulators' own data by hand, in
that order; cursors hold across writes away from the page boundary."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from gateway.cli.main import main
from gateway.events.backfill import backfill
from gateway.registry import KINDS
from tests.conftest import GatewayClient, request_counts, zero_counts
from tests.ordering_expected import FIELDS, READERS, expected_rows, keep, sort_by_hand

PAGE = """
query($first: Int, $after: String, $filter: InvoiceFilter, $orderBy: [InvoiceOrder!]) {
  invoices(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { source remoteId } }
  }
}"""


async def open_indexed(make_gateway: Any, simulators: Any, **overrides: Any) -> GatewayClient:
    """A gateway whose MakersHub index holds every MakersHub invoice (a backfill)."""
    overrides.setdefault("cache_ttl", 60)  # an ordered list reads some sources in full
    gateway: GatewayClient = await make_gateway(**overrides)
    sim = simulators.running["makershub"].simulator
    known = [int(remote_id) for remote_id in sim.remote_ids("invoices")]
    await backfill(gateway.app.state.adapters["ap"], range(min(known), max(known) + 1))
    return gateway


async def page_through(
    gateway: GatewayClient, orders: list[dict[str, str]], filter: dict[str, Any] | None = None,
    first: int = 7,
) -> tuple[list[tuple[str, str]], int | None]:
    keys: list[tuple[str, str]] = []
    after = None
    total = None
    for _ in range(1000):
        data = await gateway.data(PAGE, {"first": first, "after": after, "filter": filter,
                                         "orderBy": orders})
        connection = data["invoices"]
        total = connection["totalCount"]
        keys += [(e["node"]["source"], e["node"]["remoteId"]) for e in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            return keys, total
        after = connection["pageInfo"]["endCursor"]
    raise AssertionError("paging did not end")


def by_hand(simulators: Any, orders: list[dict[str, str]],
            filter: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    rows = [row for row in expected_rows(simulators) if keep(row, filter or {})]
    ordered = sort_by_hand(rows, [(o["field"], o.get("direction", "ASC")) for o in orders])
    return [(row.source, row.remote_id) for row in ordered]


@pytest.mark.parametrize("direction", ["ASC", "DESC"])
@pytest.mark.parametrize("field", FIELDS)
async def test_every_field_and_direction_pages_as_sorting_by_hand(
    make_gateway: Any, simulators: Any, field: str, direction: str
) -> None:
    gateway = await open_indexed(make_gateway, simulators)
    orders = [{"field": field, "direction": direction}]
    expected = by_hand(simulators, orders)
    got, total = await page_through(gateway, orders)
    assert len(got) == len(set(got)) == len(expected) > 300
    assert got == expected
    assert total is None or total == len(expected)


FILTERS: list[dict[str, Any]] = [
    {"dueFrom": "2026-09-01", "dueTo": "2026-12-31"},
    {"overdue": True},
    {"currency": ["EUR", "GBP"]},
    {"search": "ac"},
    {"updatedSince": "2026-08-01T00:00:00Z", "currency": ["USD"]},
    {"search": "inv-0000", "dueTo": "2026-06-30"},
    {"sources": ["erp", "cloud"], "dueFrom": "2026-01-01"},
]


@pytest.mark.parametrize("filter", FILTERS, ids=lambda f: ",".join(f))
async def test_filters_with_several_orders_page_as_sorting_by_hand(
    make_gateway: Any, simulators: Any, filter: dict[str, Any]
) -> None:
    gateway = await open_indexed(make_gateway, simulators)
    orders = [{"field": "DUE_DATE", "direction": "DESC"}, {"field": "NUMBER"}]
    expected = by_hand(simulators, orders, filter)
    got, total = await page_through(gateway, orders, filter)
    assert got == expected and expected
    assert total is None or total == len(expected)
    # The same filter without an order: the same invoices, in source order.
    unordered, _ = await page_through(gateway, [], filter, first=50)
    assert sorted(unordered) == sorted(expected)


async def test_number_filter_is_exact_and_ignores_case(
    make_gateway: Any, simulators: Any
) -> None:
    gateway = await open_indexed(make_gateway, simulators)
    rows = expected_rows(simulators)
    number = next(r.values["NUMBER"] for r in rows if r.source == "billing")
    got, total = await page_through(gateway, [{"field": "NUMBER"}], {"number": number.lower()})
    assert got == by_hand(simulators, [{"field": "NUMBER"}], {"number": number})
    assert len(got) == 1 and total in (None, 1)


async def test_cursor_holds_across_writes_away_from_the_page_boundary(
    make_gateway: Any, fresh_simulators: Any
) -> None:
    simulators = fresh_simulators
    gateway = await open_indexed(make_gateway, simulators)
    orders = [{"field": "ISSUE_DATE", "direction": "DESC"}]
    expected = by_hand(simulators, orders)
    first = await gateway.data(PAGE, {"first": 20, "orderBy": orders})
    cursor = first["invoices"]["pageInfo"]["endCursor"]
    # Writes away from the boundary: a new Makini invoice issued after every other (so on
    # page one: an offset would now point one invoice early) ...
    erp = simulators.running["makini"].simulator
    data = await gateway.data(
        """mutation($input: CreateInvoiceInput!) { createInvoice(input: $input) {
             invoice { remoteId } userErrors { message } } }""",
        {"input": {"source": "erp", "type": "PAYABLE", "number": "OLD-1",
                   "issueDate": "2026-12-24", "currency": "USD",
                   "vendorId": _vendor_id(erp), "lineItems": [
                       {"description": "x", "quantity": "1", "unitPrice": "10.00"}]}},
    )
    assert not data["createInvoice"]["userErrors"], data
    created = ("erp", data["createInvoice"]["invoice"]["remoteId"])
    # ... and an invoice of page one gets another number.
    first_id = first["invoices"]["edges"][0]["node"]
    data = await gateway.data(
        """mutation($input: UpdateInvoiceInput!) { updateInvoice(input: $input) {
             userErrors { message } } }""",
        {"input": {"id": _global("Invoice", first_id["source"], first_id["remoteId"]),
                   "number": "RENUMBERED-1"}},
    )
    assert not data["updateInvoice"]["userErrors"], data
    after_writes = by_hand(simulators, orders)
    assert after_writes[0] == created and after_writes[21:] == expected[20:]
    second = await gateway.data(PAGE, {"first": 20, "after": cursor, "orderBy": orders})
    got = [(e["node"]["source"], e["node"]["remoteId"]) for e in second["invoices"]["edges"]]
    assert got == expected[20:40]
    rest, _ = await page_through(gateway, orders, first=100)
    assert rest == after_writes


def _global(type_name: str, source: str, remote_id: str) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{source}:{remote_id}".encode()).decode().rstrip(
        "=")


def _vendor_id(erp: Any) -> str:
    return _global("Vendor", "erp", next(iter(erp.data.vendors)))


async def test_a_cursor_of_another_order_is_refused(make_gateway: Any, simulators: Any) -> None:
    gateway = await open_indexed(make_gateway, simulators)
    data = await gateway.data(PAGE, {"first": 3, "orderBy": [{"field": "NUMBER"}]})
    cursor = data["invoices"]["pageInfo"]["endCursor"]
    body = await gateway.query(PAGE, {"first": 3, "after": cursor,
                                      "orderBy": [{"field": "DUE_DATE"}]})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    body = await gateway.query(PAGE, {"first": 3, "after": cursor})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_simulators_seed_the_number_of_invoices_asked_for(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for kind in KINDS:
        one, two = (KINDS[kind].simulator(seed=3, invoices=250) for _ in range(2))
        assert len(one.listed_ids("invoices")) == 250, kind
        assert one.listed_ids("invoices") == two.listed_ids("invoices"), kind  # deterministic
    rows = [row for kind in KINDS
            for row in READERS[kind](KINDS[kind].simulator(seed=3, invoices=250), kind)]
    for field in FIELDS:  # varied: few invoices share a date or a number
        assert len({row.values[field] for row in rows}) > 200, field
    assert len({row.currency for row in rows}) >= 3
    for command in ("simulate", "demo"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "--invoices N" in capsys.readouterr().out


async def test_a_first_page_reads_sorting_sources_lazily_and_the_others_in_full(
    make_gateway: Any, simulators: Any
) -> None:
    """Makini and Invoicematic sort upstream: a first page of 5 costs one list call each
    (their 180 and 120 invoices span two pages); Cloud Billing cannot sort and is read to
    its end (132 invoices: two pages); nothing more."""
    gateway = await make_gateway(cache_ttl=0)
    orders = [{"field": "DUE_DATE", "direction": "DESC"}]
    await gateway.data(PAGE, {"first": 1, "orderBy": orders})  # reference tables read once
    zero_counts(simulators)
    data = await gateway.data(PAGE, {"first": 5, "orderBy": orders,
                                     "filter": {"sources": ["erp", "billing", "cloud"]}})
    got = [(e["node"]["source"], e["node"]["remoteId"]) for e in data["invoices"]["edges"]]
    assert got == by_hand(simulators, orders, {"sources": ["erp", "billing", "cloud"]})[:5]
    counts = request_counts(simulators)
    assert counts["makini"] == {"GET /api/invoices": 1}
    assert counts["invoicematic"] == {"GET /api/invoices": 1}
    assert counts["cloudbilling"] == {"GET /invoices": 2}


def test_an_ordered_cursor_carries_a_long_descending_number() -> None:
    from gateway.domain.ids import decode_ordered_cursor, encode_ordered_cursor
    from gateway.domain.ordering import part

    key = (((0, 12),), 1, (part("N" * 300, descending=True), "id"))
    cursor = encode_ordered_cursor(key, "fp")
    assert len(cursor) > 1024  # longer than an offset cursor may be
    assert decode_ordered_cursor(cursor, "fp") == key
