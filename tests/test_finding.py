"""The v3 filters apply to `invoiceSummary`, `aging` and the export exactly as to the list
(one selection serves them all), and `customers`/`vendors` take `search`."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from tests.ordering_expected import expected_rows, keep
from tests.test_ordering import open_indexed

SUMMARY = """query($filter: InvoiceFilter) {
  invoiceSummary(groupBy: [SOURCE], filter: $filter) { source currency count }
}"""
AGING = """query($filter: InvoiceFilter) {
  aging(type: RECEIVABLE, asOf: "2026-11-01", filter: $filter) { currency count missing }
}"""
IDS = """query($filter: InvoiceFilter, $after: String) {
  invoices(first: 500, filter: $filter, after: $after) {
    pageInfo { hasNextPage endCursor } nodes { source remoteId type status }
  }
}"""

# gateway/bi/summary.py: aging leaves these out (closed, or not yet issued).
CLOSED = ("PAID", "VOID", "DRAFT")
CASES: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({"dueFrom": "2026-09-01", "dueTo": "2026-12-31"},
     {"dueFrom": "2026-09-01", "dueTo": "2026-12-31"}),
    ({"overdue": True}, {"overdue": "true"}),
    ({"currency": ["EUR", "GBP"]}, {"currency": "EUR,GBP"}),
    ({"search": "ac", "updatedSince": "2026-06-01T00:00:00Z"},
     {"search": "ac", "updatedSince": "2026-06-01T00:00:00Z"}),
]


async def _all(gateway: Any, filter: dict[str, Any]) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        data = await gateway.data(IDS, {"filter": filter, "after": after})
        nodes += data["invoices"]["nodes"]
        if not data["invoices"]["pageInfo"]["hasNextPage"]:
            return nodes
        after = data["invoices"]["pageInfo"]["endCursor"]


@pytest.mark.parametrize(("filter", "params"), CASES, ids=lambda c: ",".join(c))
async def test_summary_aging_and_export_take_every_new_filter(
    make_gateway: Any, simulators: Any, filter: dict[str, Any], params: dict[str, Any]
) -> None:
    gateway = await open_indexed(make_gateway, simulators)
    rows = [row for row in expected_rows(simulators) if keep(row, filter)]
    assert rows
    expected = Counter(row.source for row in rows)

    summary = await gateway.data(SUMMARY, {"filter": filter})
    counted: Counter[str] = Counter()
    for row in summary["invoiceSummary"]:
        counted[row["source"]] += row["count"]
    assert counted == expected

    listed = await _all(gateway, filter)
    assert Counter(node["source"] for node in listed) == expected

    aging = await gateway.data(AGING, {"filter": filter})
    open_receivables = [n for n in listed if n["type"] == "RECEIVABLE"
                        and n["status"] not in CLOSED]
    aged = sum(row["count"] for row in aging["aging"])
    assert aged == len(open_receivables)
    unfiltered = await gateway.data(AGING, {"filter": None})
    assert aged < sum(row["count"] for row in unfiltered["aging"])  # the filter reached aging

    response = await gateway.http.get("/export/invoices", params={"format": "ndjson", **params})
    assert response.status_code == 200, response.text
    exported = [json.loads(line) for line in response.text.splitlines()]
    assert [(row["source"], row["remote_id"]) for row in exported] == [
        (node["source"], node["remoteId"]) for node in listed]


async def test_export_refuses_a_bad_new_parameter(gateway: Any) -> None:
    for params in ({"overdue": "maybe"}, {"dueFrom": "soon"}, {"updatedSince": "yesterday"}):
        response = await gateway.http.get("/export/invoices",
                                          params={"format": "csv", **params})
        assert response.status_code == 400, params
        assert next(iter(params)) in response.json()["errors"][0]["message"]


PARTIES = """query($search: String, $after: String) {
  customers(first: 3, search: $search, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } nodes { source remoteId name email }
  }
  vendors(first: 500, search: $search) { nodes { source remoteId name email } }
}"""


async def _parties(gateway: Any, search: str | None) -> tuple[list[Any], list[Any], Any]:
    customers: list[Any] = []
    after = None
    while True:
        data = await gateway.data(PARTIES, {"search": search, "after": after})
        customers += data["customers"]["nodes"]
        if not data["customers"]["pageInfo"]["hasNextPage"]:
            return customers, data["vendors"]["nodes"], data["customers"]["totalCount"]
        after = data["customers"]["pageInfo"]["endCursor"]


@pytest.mark.parametrize("text", ["ac", "EXAMPLE", "inc"])
async def test_customers_and_vendors_search_name_or_email(gateway: Any, text: str) -> None:
    all_customers, all_vendors, _ = await _parties(gateway, None)
    customers, vendors, total = await _parties(gateway, text)

    def found(party: dict[str, Any]) -> bool:
        return any(text.casefold() in (party[name] or "").casefold() for name in ("name", "email"))

    assert customers == [c for c in all_customers if found(c)] and customers
    assert vendors == [v for v in all_vendors if found(v)]
    assert total is None
    assert len(customers) < len(all_customers)
