"""The expected invoices of an ordered list, built from the simulators' own data (not from
the gateway): each invoice's order fields, currency, overdue flag and party names as its
wire contract (docs/upstreams/) gives them, then filtered and sorted by hand."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from gateway.registry import KINDS
from gateway.simulators.runner import SimulatorGroup

# invoicematic.md (Assumed): currency_id 1 = USD, 2 = GBP, 3 = EUR.
INVOICEMATIC_CURRENCIES = {1: "USD", 2: "GBP", 3: "EUR"}
FIELDS = ("ISSUE_DATE", "DUE_DATE", "CREATED_AT", "UPDATED_AT", "NUMBER")


@dataclass(frozen=True)
class Row:
    source: str
    remote_id: str
    position: tuple[Any, ...]  # the source's stable list order
    values: dict[str, Any]  # order field -> date / datetime / str / None
    currency: str
    overdue: bool
    names: tuple[str, ...]  # the customer's and the vendor's current names


def _instant(text: str | None) -> datetime | None:
    if text is None:
        return None
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _day(text: str | None) -> date | None:
    moment = _instant(text)
    return moment.date() if moment is not None else None


def expected_rows(group: SimulatorGroup) -> list[Row]:
    """Every listed invoice of every simulator, in source (configuration) order."""
    rows: list[Row] = []
    for kind, running in group.running.items():
        rows += READERS[kind](running.simulator, KINDS[kind].demo_name)
    return rows


def _makershub(sim: Any, source: str) -> list[Row]:
    def plain(record: dict[str, Any]) -> dict[str, Any]:
        return {"ISSUE_DATE": _day(record["invoice_date"]),
                "DUE_DATE": _day(record["invoice_due"]),
                "CREATED_AT": _instant(record["created"]),
                "UPDATED_AT": _instant(record["modified"]),
                "NUMBER": record["invoice_number"],
                "vendor": (record["supplier_info"] or {}).get("name")}

    rows = []
    for remote_id in sim.listed_ids("invoices"):
        number = int(remote_id)
        if number in sim.groups:
            # makershub.md: a group shows its children's common number and vendor (else
            # none), the earliest dates and creation, the latest change.
            parts = [plain(sim.invoices[child]) for child in sim.groups[number]]

            def common(name: str, parts: list[dict[str, Any]] = parts) -> Any:
                first = parts[0][name]
                return first if all(p[name] == first for p in parts) else None

            def earliest(name: str, parts: list[dict[str, Any]] = parts) -> Any:
                present = [p[name] for p in parts if p[name] is not None]
                return min(present) if present else None

            values = {"ISSUE_DATE": earliest("ISSUE_DATE"), "DUE_DATE": earliest("DUE_DATE"),
                      "CREATED_AT": earliest("CREATED_AT"),
                      "UPDATED_AT": max(p["UPDATED_AT"] for p in parts),
                      "NUMBER": common("NUMBER"), "vendor": common("vendor")}
        else:
            values = plain(sim.invoices[number])
        vendor = values.pop("vendor")
        rows.append(Row(source, remote_id, (number,), values, "USD", False,
                        (vendor,) if vendor else ()))
    return rows


def _makini(sim: Any, source: str) -> list[Row]:
    data = sim.data
    rows = []
    for key in sim.listed_ids("invoices"):
        record = data.invoices[key]
        names = tuple(
            table[record[field]]["name"]
            for field, table in (("customerKey", data.customers), ("vendorKey", data.vendors))
            if record[field] is not None
        )
        values = {"ISSUE_DATE": _day(record["invoiceDate"]), "DUE_DATE": _day(record["dueDate"]),
                  "CREATED_AT": _instant(record["createdAt"]),
                  "UPDATED_AT": _instant(record["updatedAt"]),
                  "NUMBER": record["invoiceNumber"]}
        currency = data.currencies[record["currencyKey"]]["code"]
        rows.append(Row(source, key, (int(key),), values, currency, False, names))
    return rows


def _invoicematic(sim: Any, source: str) -> list[Row]:
    store = sim.store
    rows = []
    for remote_id in sim.listed_ids("invoices"):
        record = store.invoices[int(remote_id)]
        values = {"ISSUE_DATE": _day(record["invoice_date"]),
                  "DUE_DATE": _day(record["due_date"]),
                  "CREATED_AT": _instant(record["created_at"]),
                  "UPDATED_AT": _instant(record["updated_at"]),
                  "NUMBER": record["invoice_number"]}
        names = (store.customers[record["customer_id"]]["name"],)
        rows.append(Row(source, remote_id, (int(remote_id),), values,
                        INVOICEMATIC_CURRENCIES[record["currency_id"]],
                        record["status"] == "OVERDUE", names))
    return rows


def _cloudbilling(sim: Any, source: str) -> list[Row]:
    tenant = sim.tenants[sim.tenant_slug]
    rows = []
    for remote_id in sim.listed_ids("invoices"):
        record = tenant.invoices[remote_id]
        values = {"ISSUE_DATE": _day(record["issue_date"]), "DUE_DATE": _day(record["due_date"]),
                  "CREATED_AT": _instant(record["created_at"]),
                  "UPDATED_AT": _instant(record["updated_at"]),
                  "NUMBER": record["number"]}
        names = (tenant.customers[record["customer_id"]]["name"],)
        rows.append(Row(source, remote_id, (record["created_at"], remote_id), values,
                        record["currency"], False, names))
    return rows


READERS: dict[str, Callable[[Any, str], list[Row]]] = {
    "makershub": _makershub, "makini": _makini, "invoicematic": _invoicematic,
    "cloudbilling": _cloudbilling,
}


def sort_by_hand(rows: Sequence[Row], orders: Sequence[tuple[str, str]]) -> list[Row]:
    """The contract's order, by repeated stable sorts from the last key to the first:
    source order and each source's stable order as the final tie-break, nulls last in
    either direction, numbers by code point (Python's str order)."""
    sources = list(dict.fromkeys(row.source for row in rows))
    result = sorted(rows, key=lambda row: (sources.index(row.source), row.position))
    for field, direction in reversed(orders):
        present = [row for row in result if row.values[field] is not None]
        missing = [row for row in result if row.values[field] is None]
        present.sort(key=lambda row: row.values[field], reverse=direction == "DESC")
        result = present + missing
    return result


def keep(row: Row, where: dict[str, Any]) -> bool:
    """The contract's filters, by hand, for the ones the ordering tests use."""
    values = row.values
    if "dueFrom" in where and (values["DUE_DATE"] is None
                               or values["DUE_DATE"] < date.fromisoformat(where["dueFrom"])):
        return False
    if "dueTo" in where and (values["DUE_DATE"] is None
                             or values["DUE_DATE"] > date.fromisoformat(where["dueTo"])):
        return False
    if "updatedSince" in where and (
        values["UPDATED_AT"] is None or values["UPDATED_AT"] < _instant(where["updatedSince"])
    ):
        return False
    if "number" in where and (values["NUMBER"] or "").casefold() != where["number"].casefold():
        return False
    if "overdue" in where and row.overdue is not where["overdue"]:
        return False
    if "currency" in where and row.currency not in where["currency"]:
        return False
    if "search" in where:
        text = where["search"].casefold()
        haystack = [values["NUMBER"] or "", *row.names]
        if not any(text in item.casefold() for item in haystack):
            return False
    return "sources" not in where or row.source in where["sources"]
