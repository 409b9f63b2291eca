"""Records of a list page, and an invoice's lines, are normalized when first used, once.

Adapters read upstream pages of 100 records, or windows of 10 to 50 where a page fits one
(docs/lists.md), shared through the read cache; a query serving 40 invoices without their
lines normalizes the 41 it reads (one more tells whether a next page exists) and no line at
all. Counted on the Invoicematic adapter's own normalizers, which stay the only place where
records are normalized.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest

from gateway.adapters.invoicematic import InvoicematicAdapter
from gateway.domain.lazy import LazyTuple
from gateway.domain.records import InvoiceQuery, LineItem
from tests.conftest import request_counts, reset_simulator, sim_control, zero_counts

PAGE = """query($first: Int, $after: String) {
  invoices(first: $first, after: $after, filter: {sources: ["billing"]}) {
    nodes { remoteId number total { amount currency } customer { remoteId name email } }
    pageInfo { hasNextPage endCursor } } }"""

LINES = """query($first: Int) {
  invoices(first: $first, filter: {sources: ["billing"]}) {
    nodes { remoteId lineItems { id description quantity unitPrice { amount } } } } }"""


@pytest.fixture
def normalized(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many invoices and line items the Invoicematic adapter has normalized."""
    counts: Counter[str] = Counter()
    invoice, line = InvoicematicAdapter._invoice, InvoicematicAdapter._line

    def count_invoice(self: InvoicematicAdapter, record: Any) -> Any:
        counts["invoices"] += 1
        return invoice(self, record)

    def count_line(self: InvoicematicAdapter, item: Any, currency: str, where: str) -> Any:
        counts["lines"] += 1
        return line(self, item, currency, where)

    monkeypatch.setattr(InvoicematicAdapter, "_invoice", count_invoice)
    monkeypatch.setattr(InvoicematicAdapter, "_line", count_line)
    return counts


@pytest.fixture
def store(simulators: Any) -> Any:
    return simulators.running["invoicematic"].simulator.store


def in_order(store: Any) -> list[int]:
    """The simulator's invoice ids in the adapter's list order (ascending id)."""
    return sorted(store.invoices)


async def test_a_page_of_40_normalizes_only_the_invoices_it_reads(gateway, normalized, store):
    assert len(store.invoices) > 100
    data = await gateway.data(PAGE, {"first": 40})  # read as a window of 50 (lists.md)
    nodes = data["invoices"]["nodes"]
    ids = in_order(store)[:40]
    assert [node["remoteId"] for node in nodes] == [str(i) for i in ids]
    for node, remote_id in zip(nodes, ids, strict=True):
        record = store.invoices[remote_id]
        assert node["number"] == record["invoice_number"]
        assert Decimal(node["total"]["amount"]) == Decimal(record["total"]) / 100
        assert node["customer"]["remoteId"] == str(record["customer_id"])
    assert data["invoices"]["pageInfo"]["hasNextPage"] is True
    # 40 served and one more, which the window holds, to know a next page exists; not the
    # other 9 of the window.
    assert normalized == {"invoices": 41}


async def test_a_page_ending_with_its_window_normalizes_no_invoice_more(
    gateway, normalized, store
):
    data = await gateway.data(PAGE, {"first": 50})  # a window of 50, exactly
    assert len(data["invoices"]["nodes"]) == 50
    assert data["invoices"]["pageInfo"]["hasNextPage"] is True  # from the upstream's page count
    assert normalized == {"invoices": 50}


async def test_lines_are_normalized_only_when_selected(gateway, normalized, store):
    await gateway.data(PAGE, {"first": 10})
    assert normalized["lines"] == 0
    data = await gateway.data(LINES, {"first": 10})
    ids = in_order(store)[:10]
    assert normalized["lines"] == sum(len(store.invoices[i]["items"]) for i in ids)
    for node, remote_id in zip(data["invoices"]["nodes"], ids, strict=True):
        items = store.invoices[remote_id]["items"]
        assert [line["id"] for line in node["lineItems"]] == [str(item["id"]) for item in items]
        assert [Decimal(line["unitPrice"]["amount"]) for line in node["lineItems"]] == [
            Decimal(item["price"]) / 100 for item in items
        ]


@pytest.mark.parametrize("windows, first", [(False, 30), (True, 25)],
                         ids=["pages of 30 straddling pages of 100", "windows of 25"])
async def test_paging_is_complete_and_the_cached_pages_keep_their_normalizations(
    make_gateway, normalized, store, windows, first
):
    gateway = await make_gateway(cache_ttl=60, top={"list_windows": windows})

    async def every_id() -> list[str]:
        ids: list[str] = []
        after = None
        while True:
            data = await gateway.data(PAGE, {"first": first, "after": after})
            ids += [node["remoteId"] for node in data["invoices"]["nodes"]]
            info = data["invoices"]["pageInfo"]
            if not info["hasNextPage"]:
                return ids
            after = info["endCursor"]

    expected = [str(i) for i in in_order(store)]
    assert await every_id() == expected
    assert normalized["invoices"] == len(expected)  # each once, over five requests
    assert await every_id() == expected  # stable
    assert normalized["invoices"] == len(expected)  # the cached pages' records reused


async def test_concurrent_queries_with_the_cache_off_share_one_normalization(
    gateway, normalized, simulators
):
    running = simulators.running["invoicematic"]
    sim_control(running, "PUT", "/_sim/latency", {"ms": 50})  # the reads overlap in flight
    zero_counts(simulators)
    results = await asyncio.gather(*(gateway.data(PAGE, {"first": 50}) for _ in range(3)))
    assert results[0] == results[1] == results[2]
    assert request_counts(simulators)["invoicematic"]["GET /api/invoices"] == 1
    assert normalized["invoices"] == 50


async def test_a_broken_record_fails_where_it_is_served_naming_the_field(
    gateway, simulators, store
):
    ids = in_order(store)
    broken = ids[70]  # on the first upstream page, past the first 50 served
    store.invoices[broken]["total"] = "123.45"  # a string where the contract has cents
    try:
        first = await gateway.data(PAGE, {"first": 50})  # never reads the broken record
        assert len(first["invoices"]["nodes"]) == 50
        after = first["invoices"]["pageInfo"]["endCursor"]
        body = await gateway.query(PAGE, {"first": 50, "after": after})
        [error] = body["errors"]
        assert error["message"] == f"billing: invoice {broken}: field 'total' must be integer cents"
        assert error["extensions"] == {"code": "UPSTREAM_BAD_RESPONSE", "source": "billing"}
        assert error["path"] == ["invoices"]
        # The records before it are served; none after it, and never the broken one.
        nodes = body["data"]["invoices"]["nodes"]
        assert [node["remoteId"] for node in nodes] == [str(i) for i in ids[50:70]]
    finally:
        reset_simulator(simulators.running["invoicematic"])


async def test_a_broken_line_item_fails_where_the_lines_are_served_naming_the_field(
    gateway, simulators, store
):
    ids = in_order(store)
    broken = ids[3]
    store.invoices[broken]["items"][0]["quantity"] = "two"  # a string, not a number
    message = f"billing: invoice {broken}: item field 'quantity' must be a number"
    try:
        # Lines not selected: never read, and the invoice is served.
        assert len((await gateway.data(PAGE, {"first": 5}))["invoices"]["nodes"]) == 5
        # Selected in a list: the source fails at that invoice, as for a broken record;
        # the other source fills the page (its lines are fine).
        body = await gateway.query("""{
          invoices(first: 5, filter: {sources: ["billing", "cloud"]}) {
            edges { node { source remoteId lineItems { id } } } } }""")
        [error] = body["errors"]
        assert error["message"] == message and error["path"] == ["invoices"]
        assert error["extensions"] == {"code": "UPSTREAM_BAD_RESPONSE", "source": "billing"}
        nodes = [edge["node"] for edge in body["data"]["invoices"]["edges"]]
        assert [(n["source"], n["remoteId"]) for n in nodes[:3]] == [
            ("billing", str(i)) for i in ids[:3]
        ]
        assert [n["source"] for n in nodes[3:]] == ["cloud", "cloud"]
        assert all(node["lineItems"] for node in nodes)
        # Read by id: the error is at the lines, and the (nullable) invoice is null.
        body = await gateway.query(
            'query($id: String) { invoice(source: "billing", remoteId: $id) '
            "{ number lineItems { id } } }", {"id": str(broken)},
        )
        [error] = body["errors"]
        assert error["message"] == message and error["path"] == ["invoice", "lineItems"]
        assert error["extensions"] == {"code": "UPSTREAM_BAD_RESPONSE", "source": "billing"}
        assert body["data"] == {"invoice": None}
    finally:
        reset_simulator(simulators.running["invoicematic"])


async def test_records_served_from_a_page_are_not_read_again_in_the_request(
    gateway, simulators
):
    zero_counts(simulators)
    data = await gateway.data("""{
      invoices(first: 100, filter: {sources: ["billing"], status: [PARTIALLY_PAID]}) {
        nodes { id payments { invoice { id number } } } } }""")
    payments = [(node, p) for node in data["invoices"]["nodes"] for p in node["payments"]]
    assert payments
    assert all(payment["invoice"]["id"] == node["id"] for node, payment in payments)
    routes = request_counts(simulators)["invoicematic"]
    assert "GET /api/invoices/{id}" not in routes, routes  # each invoice came from the page
    assert routes["GET /api/invoices"] == 1  # one page (the status is pushed down)


async def test_lazy_lines_compare_hash_and_print_as_their_tuple(make_adapter):
    adapter = make_adapter("invoicematic", cache_ttl=0)
    page = await adapter.list_invoices(InvoiceQuery(), 0)
    invoice = page.items[0]
    lines = invoice.line_items
    assert isinstance(lines, LazyTuple) and lines.normalized == 0
    again = await adapter.get_invoice(invoice.remote_id)
    assert again == invoice and hash(again) == hash(invoice)
    plain = tuple(lines)
    assert lines.normalized == len(plain) > 0
    assert all(isinstance(line, LineItem) for line in plain)
    assert lines == plain and plain == lines and hash(lines) == hash(plain)
    assert repr(lines) == repr(plain) and lines[-1] == plain[-1] and lines[:2] == plain[:2]
    assert lines != list(plain)  # as a tuple: never equal to a list


SUMMARY = """{ invoiceSummary(groupBy: [SOURCE]) { source count } }"""


async def test_a_broken_record_leaves_its_source_out_of_a_summary_and_refuses_an_export(
    gateway, simulators, store
):
    """Walks read every record, so a broken one anywhere fails its source as a failed
    read does: a summary leaves the source out whole, an export is refused up front."""
    broken = in_order(store)[-1]  # on the last upstream page
    store.invoices[broken]["due_date"] = "soon"
    try:
        body = await gateway.query(SUMMARY)
        [error] = body["errors"]
        assert error["message"] == (
            f"billing: invoice {broken}: field 'due_date' must be a YYYY-MM-DD date"
        )
        assert error["extensions"]["source"] == "billing" and error["path"] == ["invoiceSummary"]
        assert "billing" not in {row["source"] for row in body["data"]["invoiceSummary"]}
        store.invoices[in_order(store)[0]]["due_date"] = "soon"  # now on the first page too
        response = await gateway.http.get(
            "/export/invoices", params={"format": "csv", "sources": "billing"}
        )
        assert response.status_code == 502
        [refusal] = response.json()["errors"]
        assert refusal["extensions"] == {"code": "UPSTREAM_BAD_RESPONSE", "source": "billing"}
        assert "field 'due_date'" in refusal["message"]
    finally:
        reset_simulator(simulators.running["invoicematic"])
