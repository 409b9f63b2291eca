"""Totals for BI: invoice summaries grouped by dimensions, and receivable/payable aging.

Domain code over `gateway.domain.records.Invoice` records (no HTTP, no GraphQL): exact
`Decimal` sums, and money is never added across currencies, since every row's key
includes the currency. Amounts a source does not give (`total` or `amountDue` null) are
not guessed: they stay out of the sums and are counted in the row's `*_missing` fields.
Accumulators merge, so each source can be summed on its own and a failed source left out.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from gateway.domain.records import Customer, Invoice, InvoiceStatus, InvoiceType, Money, Vendor
from gateway.errors import UpstreamError
from gateway.lists.loaders import Loaders
from gateway.lists.paging import ListRequest, walk


class Dimension(enum.Enum):
    SOURCE = "SOURCE"
    STATUS = "STATUS"
    TYPE = "TYPE"
    CURRENCY = "CURRENCY"
    ISSUE_MONTH = "ISSUE_MONTH"
    CUSTOMER = "CUSTOMER"
    VENDOR = "VENDOR"


@dataclass(frozen=True)
class PartyRef:
    """A customer or vendor an invoice names: by source and remote id (the snapshot, where
    the upstream embeds the party, rides along but is not part of the identity)."""

    source: str
    remote_id: str
    snapshot: Customer | Vendor | None = field(default=None, compare=False)


@dataclass(frozen=True)
class GroupKey:
    currency: str
    source: str | None = None
    status: InvoiceStatus | None = None
    type: InvoiceType | None = None
    issue_month: str | None = None
    customer: PartyRef | None = None
    vendor: PartyRef | None = None

    def sort_key(self) -> tuple[Any, ...]:
        parts: list[Any] = [self.source, self.status and self.status.value,
                            self.type and self.type.value, self.currency, self.issue_month,
                            self.customer and self.customer.remote_id,
                            self.vendor and self.vendor.remote_id]
        return tuple((part is None, part or "") for part in parts)


@dataclass
class Sum:
    """An exact sum in one currency of the amounts that were known, and how many were not."""

    currency: str
    amount: Decimal = Decimal(0)
    missing: int = 0

    def add(self, money: Money | None) -> None:
        if money is None:
            self.missing += 1
            return
        if money.currency != self.currency:
            # Adapters give every amount of an invoice in its currency; anything else is a
            # bug that must not turn into a mixed-currency total.
            raise ValueError(f"{money.currency} amount in a {self.currency} sum")
        self.amount += money.amount

    def merge(self, other: Sum) -> None:
        self.amount += other.amount
        self.missing += other.missing

    def money(self) -> Money:
        return Money.of(self.amount, self.currency)


@dataclass
class SummaryRow:
    key: GroupKey
    count: int
    total: Sum
    amount_due: Sum


def customer_of(invoice: Invoice) -> PartyRef | None:
    if invoice.customer_id is not None:
        return PartyRef(invoice.source, invoice.customer_id, invoice.customer_snapshot)
    snapshot = invoice.customer_snapshot
    return PartyRef(invoice.source, snapshot.remote_id, snapshot) if snapshot else None


def vendor_of(invoice: Invoice) -> PartyRef | None:
    if invoice.vendor_id is not None:
        return PartyRef(invoice.source, invoice.vendor_id, invoice.vendor_snapshot)
    snapshot = invoice.vendor_snapshot
    return PartyRef(invoice.source, snapshot.remote_id, snapshot) if snapshot else None


class Summary:
    """Count, total and amount due per group of `group_by` (always split by currency)."""

    def __init__(self, group_by: Sequence[Dimension]) -> None:
        self.group_by = frozenset(group_by)
        self._rows: dict[GroupKey, SummaryRow] = {}

    def key(self, invoice: Invoice) -> GroupKey:
        dims = self.group_by
        issued = invoice.issue_date
        return GroupKey(
            currency=invoice.currency,
            source=invoice.source if Dimension.SOURCE in dims else None,
            status=invoice.status if Dimension.STATUS in dims else None,
            type=invoice.type if Dimension.TYPE in dims else None,
            issue_month=issued.strftime("%Y-%m") if issued and Dimension.ISSUE_MONTH in dims
            else None,
            customer=customer_of(invoice) if Dimension.CUSTOMER in dims else None,
            vendor=vendor_of(invoice) if Dimension.VENDOR in dims else None,
        )

    def add_all(self, invoices: Iterable[Invoice]) -> None:
        for invoice in invoices:
            self.add(invoice)

    def add(self, invoice: Invoice) -> None:
        row = self._row(self.key(invoice))
        row.count += 1
        row.total.add(invoice.total)
        row.amount_due.add(invoice.amount_due)

    def merge(self, other: Summary) -> None:
        for key, theirs in other._rows.items():
            row = self._row(key)
            row.count += theirs.count
            row.total.merge(theirs.total)
            row.amount_due.merge(theirs.amount_due)

    def rows(self) -> list[SummaryRow]:
        return sorted(self._rows.values(), key=lambda row: row.key.sort_key())

    def _row(self, key: GroupKey) -> SummaryRow:
        row = self._rows.get(key)
        if row is None:
            row = self._rows[key] = SummaryRow(key, 0, Sum(key.currency), Sum(key.currency))
        return row


# Open invoices only: paid, void and draft invoices are owed by nobody.
CLOSED = frozenset({InvoiceStatus.PAID, InvoiceStatus.VOID, InvoiceStatus.DRAFT})
BUCKETS = ("current", "days_1_to_30", "days_31_to_60", "days_61_to_90", "over_90")


def bucket(days_overdue: int) -> str:
    """The aging bucket of an amount `days_overdue` days past its due date."""
    if days_overdue <= 0:
        return "current"
    if days_overdue <= 30:
        return "days_1_to_30"
    if days_overdue <= 60:
        return "days_31_to_60"
    if days_overdue <= 90:
        return "days_61_to_90"
    return "over_90"


@dataclass
class AgingRow:
    """One currency's open amounts by days past due on `as_of`."""

    currency: str
    buckets: dict[str, Decimal]
    count: int = 0
    missing: int = 0

    @property
    def total(self) -> Decimal:
        return sum(self.buckets.values(), Decimal(0))

    def money(self, name: str) -> Money:
        amount = self.total if name == "total" else self.buckets[name]
        return Money.of(amount, self.currency)


class Aging:
    """Open amounts (`amountDue`) by how far past due (`dueDate`, else the issue date: due
    on receipt) they are on `as_of`, per currency. Open invoices whose amount due the source
    does not give, or with neither date, are counted in `missing`, not in any bucket."""

    def __init__(self, as_of: date) -> None:
        self.as_of = as_of
        self._rows: dict[str, AgingRow] = {}

    def add_all(self, invoices: Iterable[Invoice]) -> None:
        for invoice in invoices:
            self.add(invoice)

    def add(self, invoice: Invoice) -> None:
        if invoice.status in CLOSED:
            return
        row = self._row(invoice.currency)
        row.count += 1
        due = invoice.due_date or invoice.issue_date
        owed = invoice.amount_due
        if owed is None or due is None:
            row.missing += 1
            return
        if owed.currency != row.currency:
            raise ValueError(f"{owed.currency} amount due on a {row.currency} invoice")
        row.buckets[bucket((self.as_of - due).days)] += owed.amount

    def merge(self, other: Aging) -> None:
        for currency, theirs in other._rows.items():
            row = self._row(currency)
            row.count += theirs.count
            row.missing += theirs.missing
            for name, amount in theirs.buckets.items():
                row.buckets[name] += amount

    def rows(self) -> list[AgingRow]:
        return [self._rows[currency] for currency in sorted(self._rows)]

    def _row(self, currency: str) -> AgingRow:
        row = self._rows.get(currency)
        if row is None:
            row = self._rows[currency] = AgingRow(currency, dict.fromkeys(BUCKETS, Decimal(0)))
        return row


Accumulator = TypeVar("Accumulator", Summary, Aging)


async def accumulate(
    loaders: Loaders, request: ListRequest, new: Callable[[], Accumulator]
) -> tuple[Accumulator, list[UpstreamError]]:
    """Fold every matching invoice of every source of `request` into one accumulator.

    Sources are walked concurrently, each page by page (`paging.walk`: the list's own
    pages and loaders, one page held at a time). A source that fails anywhere is left out
    whole, so its rows are missing rather than partly counted, and its error returned.
    """

    async def one(source: str) -> Accumulator | UpstreamError:
        accumulator = new()
        async for chunk in walk(loaders, request, source):
            if chunk.error is not None:
                return chunk.error
            accumulator.add_all(chunk.records)
        return accumulator

    merged = new()
    errors: list[UpstreamError] = []
    for result in await asyncio.gather(*(one(source) for source in request.sources)):
        if isinstance(result, UpstreamError):
            errors.append(result)
        else:
            merged.merge(result)
    return merged, errors
