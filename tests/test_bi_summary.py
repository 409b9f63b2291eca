"""invoiceSummary and aging against sums computed here from a full paged read of the same data."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from gateway.bi.summary import Aging, Summary, bucket
from gateway.domain import records as domain
from tests.conftest import read_all_invoices, request_counts, sim_control, zero_counts

FIELDS = """id source status type currency issueDate dueDate
            total { amount currency } amountDue { amount currency } customer { id }"""


async def read_all(gateway, filter: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return await read_all_invoices(gateway, FIELDS, filter)


SUMMARY = """query($groupBy: [SummaryDimension!]!, $filter: InvoiceFilter) {
  invoiceSummary(groupBy: $groupBy, filter: $filter) {
    source status type currency issueMonth count
    total { amount currency } totalMissing amountDue { amount currency } amountDueMissing
  }
}"""


def money_sum(values: list[dict[str, str] | None], currency: str) -> tuple[str | None, int]:
    known = [v for v in values if v is not None]
    assert all(v["currency"] == currency for v in known)
    if not known:
        return None, len(values)
    return str(sum((Decimal(v["amount"]) for v in known), Decimal("0.00"))), len(values) - len(known)


async def test_summary_by_source_status_currency_equals_a_full_paged_read(gateway):
    nodes = await read_all(gateway)
    assert len(nodes) > 200  # erp, billing and cloud together; several pages of 100
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for node in nodes:
        groups[(node["source"], node["status"], node["currency"])].append(node)
    data = await gateway.data(SUMMARY, {"groupBy": ["SOURCE", "STATUS", "CURRENCY"]})
    rows = data["invoiceSummary"]
    assert len(rows) == len(groups)
    for row in rows:
        members = groups[(row["source"], row["status"], row["currency"])]
        assert row["count"] == len(members)
        assert row["type"] is None and row["issueMonth"] is None
        total, total_missing = money_sum([m["total"] for m in members], row["currency"])
        due, due_missing = money_sum([m["amountDue"] for m in members], row["currency"])
        assert (row["total"] and row["total"]["amount"]) == total
        assert (row["amountDue"] and row["amountDue"]["amount"]) == due
        assert (row["totalMissing"], row["amountDueMissing"]) == (total_missing, due_missing)
        if row["total"]:
            assert row["total"]["currency"] == row["currency"]


async def test_summary_never_sums_across_currencies(gateway):
    nodes = await read_all(gateway, {"sources": ["cloud"]})
    currencies = Counter(node["currency"] for node in nodes)
    assert len(currencies) > 1  # the Cloud Billing tenant bills in USD, EUR and GBP
    data = await gateway.data(SUMMARY, {"groupBy": [], "filter": {"sources": ["cloud"]}})
    rows = data["invoiceSummary"]
    assert {row["currency"]: row["count"] for row in rows} == dict(currencies)
    for row in rows:
        assert row["source"] is None and row["status"] is None
        expected, _ = money_sum([n["total"] for n in nodes if n["currency"] == row["currency"]],
                                row["currency"])
        assert row["total"]["amount"] == expected


async def test_summary_by_month_and_type_with_a_filter(gateway):
    where = {"status": ["OPEN", "PARTIALLY_PAID"], "issuedFrom": "2026-01-01"}
    nodes = await read_all(gateway, where)
    expected = Counter((n["type"], n["issueDate"][:7], n["currency"]) for n in nodes)
    data = await gateway.data(SUMMARY, {"groupBy": ["TYPE", "ISSUE_MONTH"], "filter": where})
    got = {(r["type"], r["issueMonth"], r["currency"]): r["count"] for r in data["invoiceSummary"]}
    assert got == dict(expected)
    assert all(month >= "2026-01" for _, month, _ in got)


async def test_summary_by_customer_names_the_customer(gateway):
    nodes = await read_all(gateway, {"sources": ["billing"]})
    expected = Counter(n["customer"]["id"] for n in nodes if n["customer"])
    data = await gateway.data(
        """{ invoiceSummary(groupBy: [CUSTOMER], filter: {sources: ["billing"]}) {
             customer { id name } currency count } }"""
    )
    got: Counter[str] = Counter()
    for row in data["invoiceSummary"]:
        assert row["customer"]["name"]
        got[row["customer"]["id"]] += row["count"]
    assert got == expected


AGING = """query($type: InvoiceType!, $asOf: Date, $filter: InvoiceFilter) {
  aging(type: $type, asOf: $asOf, filter: $filter) {
    currency count missing
    current { amount currency } days1To30 { amount } days31To60 { amount }
    days61To90 { amount } over90 { amount } total { amount }
  }
}"""
NAMES = {"current": "current", "days_1_to_30": "days1To30", "days_31_to_60": "days31To60",
         "days_61_to_90": "days61To90", "over_90": "over90"}


async def test_aging_equals_buckets_computed_from_a_full_paged_read(gateway):
    as_of = date(2026, 11, 1)
    nodes = await read_all(gateway, {"type": "RECEIVABLE"})
    expected: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    counts: Counter[str] = Counter()
    missing: Counter[str] = Counter()
    for node in nodes:
        if node["status"] in ("PAID", "VOID", "DRAFT"):
            continue
        counts[node["currency"]] += 1
        due = node["dueDate"] or node["issueDate"]
        if node["amountDue"] is None or due is None:
            missing[node["currency"]] += 1
            continue
        overdue = (as_of - date.fromisoformat(due)).days
        name = ("current" if overdue <= 0 else "days1To30" if overdue <= 30 else
                "days31To60" if overdue <= 60 else "days61To90" if overdue <= 90 else "over90")
        expected[node["currency"]][name] += Decimal(node["amountDue"]["amount"])
    data = await gateway.data(AGING, {"type": "RECEIVABLE", "asOf": as_of.isoformat()})
    rows = data["aging"]
    assert [row["currency"] for row in rows] == sorted(counts)
    nonzero = 0
    for row in rows:
        buckets = expected[row["currency"]]
        for name in NAMES.values():
            assert Decimal(row[name]["amount"]) == buckets[name], (row["currency"], name)
            nonzero += bool(buckets[name])
        assert Decimal(row["total"]["amount"]) == sum(buckets.values(), Decimal(0))
        assert row["count"] == counts[row["currency"]]
        assert row["missing"] == missing[row["currency"]]
    assert nonzero >= 3  # the seeded data spreads over several buckets


async def test_aging_contradicting_type_is_bad_input(gateway):
    body = await gateway.query(AGING, {"type": "PAYABLE", "filter": {"type": "RECEIVABLE"}})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "contradicts" in body["errors"][0]["message"]


async def test_a_failing_source_is_an_error_and_its_rows_are_missing(gateway, simulators):
    before = await gateway.data(SUMMARY, {"groupBy": ["SOURCE"]})
    assert {row["source"] for row in before["invoiceSummary"]} == {"erp", "billing", "cloud"}
    # billing fails: none of its invoices may be counted (nor counted as zero)
    sim_control(simulators.running["invoicematic"], "POST", "/_sim/faults",
                {"mode": "503", "times": 5, "path": "/invoices"})
    zero_counts(simulators)
    body = await gateway.query(SUMMARY, {"groupBy": ["SOURCE"]})
    rows = body["data"]["invoiceSummary"]
    assert {row["source"] for row in rows} == {"erp", "cloud"}
    assert rows == [row for row in before["invoiceSummary"] if row["source"] != "billing"]
    [error] = body["errors"]
    assert error["extensions"]["source"] == "billing"
    assert error["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
    assert error["path"] == ["invoiceSummary"]
    assert request_counts(simulators)["invoicematic"]


def test_pure_summary_and_aging_arithmetic():
    def invoice(remote_id: str, currency: str, total: str | None, due: str | None,
                status: domain.InvoiceStatus = domain.InvoiceStatus.OPEN,
                due_date: date | None = date(2026, 10, 1)) -> domain.Invoice:
        return domain.Invoice(
            source="s", remote_id=remote_id, type=domain.InvoiceType.RECEIVABLE, number=None,
            status=status, status_raw=None, currency=currency, due_date=due_date,
            total=domain.Money.of(total, currency) if total else None,
            amount_due=domain.Money.of(due, currency) if due else None,
        )

    invoices = [invoice("1", "USD", "0.10", "0.10"), invoice("2", "USD", "0.20", None),
                invoice("3", "JPY", "1000", "1000"), invoice("4", "USD", None, "5.00",
                                                            due_date=None),
                invoice("5", "USD", "9.99", "9.99", status=domain.InvoiceStatus.PAID)]
    result = Summary([])
    result.add_all(invoices)
    usd = next(row for row in result.rows() if row.key.currency == "USD")
    assert usd.count == 4 and usd.total.money().amount == Decimal("10.29")  # exactly, no float
    assert usd.total.missing == 1 and usd.amount_due.missing == 1
    jpy = next(row for row in result.rows() if row.key.currency == "JPY")
    assert str(jpy.total.money().amount) == "1000"
    aging = Aging(date(2026, 11, 1))
    aging.add_all(invoices)
    usd_aging = next(row for row in aging.rows() if row.currency == "USD")
    assert usd_aging.count == 3 and usd_aging.missing == 2  # no amount due; no date at all
    assert usd_aging.buckets["days_31_to_60"] == Decimal("0.10")
    assert [bucket(d) for d in (-3, 0, 1, 30, 31, 60, 61, 90, 91)] == [
        "current", "current", "days_1_to_30", "days_1_to_30", "days_31_to_60",
        "days_31_to_60", "days_61_to_90", "days_61_to_90", "over_90"]


async def test_bi_guide_worked_queries_answer_what_the_guide_shows(gateway):
    import json
    import re
    from pathlib import Path

    guide = (Path(__file__).resolve().parent.parent / "docs" / "bi.md").read_text()
    section = guide.split("## Export", 1)[0]
    queries = re.findall(r"```graphql\n(.*?)```", section, re.S)
    shown = re.findall(r"```json\n(.*?)```", section, re.S)
    assert len(queries) == len(shown) == 2
    for query, text in zip(queries, shown, strict=True):
        data = await gateway.data(query)
        rows = json.loads(text.replace(',\n  "..."]', "]"))["data"]
        for field, expected in rows.items():
            for row in expected:
                assert row in data[field], row
