"""BI queries: `invoiceSummary` and `aging`, computed over every matching invoice."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Annotated

import strawberry

from gateway.adapters import Capability
from gateway.bi import summary
from gateway.bi.summary import Aging, Dimension, PartyRef, Summary, accumulate
from gateway.domain import records as domain
from gateway.errors import BadInput, UpstreamError
from resolvers.context import Info
from resolvers.errors import partial_error
from resolvers.queries import InvoiceFilter, invoice_list_request
from resolvers.types import Customer, Money, Vendor

SummaryDimension = strawberry.enum(
    Dimension, name="SummaryDimension",
    description="What `invoiceSummary` groups by (it always splits by currency).",
)


async def _party(info: Info, ref: PartyRef | None, kind: str) -> Customer | Vendor | None:
    """The customer or vendor a row is grouped by, read like `Invoice.customer/vendor`."""
    if ref is None:
        return None
    adapter = info.context.adapter(ref.source)
    loaders = info.context.loaders.source(ref.source)
    if kind == "customer":
        if Capability.GET_CUSTOMER in adapter.capabilities:
            return Customer.of(await loaders.customer.load(ref.remote_id))
        return Customer.of(ref.snapshot) if isinstance(ref.snapshot, domain.Customer) else None
    if Capability.GET_VENDOR in adapter.capabilities:
        return Vendor.of(await loaders.vendor.load(ref.remote_id))
    return Vendor.of(ref.snapshot) if isinstance(ref.snapshot, domain.Vendor) else None


@strawberry.type(description="One group of `invoiceSummary`: the dimensions grouped by (the "
                 "others null; `currency` always), how many invoices, and their sums.")
class InvoiceSummaryRow:
    row: strawberry.Private[summary.SummaryRow]

    @strawberry.field(description="Source name, when grouped by SOURCE.")
    def source(self) -> str | None:
        return self.row.key.source

    @strawberry.field(description="Unified status, when grouped by STATUS.")
    def status(self) -> domain.InvoiceStatus | None:
        return self.row.key.status

    @strawberry.field(description="RECEIVABLE or PAYABLE, when grouped by TYPE.")
    def type(self) -> domain.InvoiceType | None:
        return self.row.key.type

    @strawberry.field(description="ISO 4217 currency: every row is one currency.")
    def currency(self) -> str:
        return self.row.key.currency

    @strawberry.field(description="YYYY-MM of the issue date, when grouped by ISSUE_MONTH "
                      "(null for invoices without an issue date).")
    def issue_month(self) -> str | None:
        return self.row.key.issue_month

    @strawberry.field(description="The customer, when grouped by CUSTOMER.")
    async def customer(self, info: Info) -> Customer | None:
        party = await _party(info, self.row.key.customer, "customer")
        return party if isinstance(party, Customer) else None

    @strawberry.field(description="The vendor, when grouped by VENDOR.")
    async def vendor(self, info: Info) -> Vendor | None:
        party = await _party(info, self.row.key.vendor, "vendor")
        return party if isinstance(party, Vendor) else None

    @strawberry.field(description="Number of invoices in this group.")
    def count(self) -> int:
        return self.row.count

    @strawberry.field(description="Exact sum of the totals (null when no invoice of the group "
                      "has one).")
    def total(self) -> Money | None:
        sums = self.row.total
        return None if sums.missing == self.row.count else Money.of(sums.money())

    @strawberry.field(description="Invoices of this group whose source gives no total; they "
                      "are not in `total`.")
    def total_missing(self) -> int:
        return self.row.total.missing

    @strawberry.field(description="Exact sum of the amounts due (null when no invoice of the "
                      "group has one).")
    def amount_due(self) -> Money | None:
        sums = self.row.amount_due
        return None if sums.missing == self.row.count else Money.of(sums.money())

    @strawberry.field(description="Invoices of this group whose source gives no amount due "
                      "(e.g. Makini before payment); they are not in `amountDue`.")
    def amount_due_missing(self) -> int:
        return self.row.amount_due.missing


@strawberry.type(description="One currency's open amounts (amountDue of invoices neither PAID, "
                 "VOID nor DRAFT) by days past their due date on `asOf`.")
class AgingRow:
    row: strawberry.Private[summary.AgingRow]

    @strawberry.field(description="ISO 4217 currency of every amount in this row.")
    def currency(self) -> str:
        return self.row.currency

    @strawberry.field(description="Not yet due (due on or after `asOf`).")
    def current(self) -> Money:
        return self._money("current")

    @strawberry.field(description="1 to 30 days past due.")
    def days_1_to_30(self) -> Money:
        return self._money("days_1_to_30")

    @strawberry.field(description="31 to 60 days past due.")
    def days_31_to_60(self) -> Money:
        return self._money("days_31_to_60")

    @strawberry.field(description="61 to 90 days past due.")
    def days_61_to_90(self) -> Money:
        return self._money("days_61_to_90")

    @strawberry.field(description="More than 90 days past due.")
    def over_90(self) -> Money:
        return self._money("over_90")

    @strawberry.field(description="All buckets together.")
    def total(self) -> Money:
        return self._money("total")

    @strawberry.field(description="Open invoices in this currency.")
    def count(self) -> int:
        return self.row.count

    @strawberry.field(description="Open invoices without an amount due (or without any date); "
                      "they are in no bucket.")
    def missing(self) -> int:
        return self.row.missing

    def _money(self, name: str) -> Money:
        money = Money.of(self.row.money(name))
        assert money is not None
        return money


Filter = Annotated[
    InvoiceFilter | None, strawberry.argument(description="Which invoices to include.")
]


@strawberry.type(description="BI queries over every matching invoice of every source.")
class BIQuery:
    @strawberry.field(description="Counts and exact sums of every matching invoice, grouped by "
                      "`groupBy` and always by currency. A source that fails is an error and "
                      "its invoices are missing from every row.")
    async def invoice_summary(
        self, info: Info, group_by: list[Dimension], filter: Filter = None
    ) -> list[InvoiceSummaryRow]:
        request = await invoice_list_request(info, filter)
        result, errors = await accumulate(
            info.context.loaders, request, lambda: Summary(group_by)
        )
        _report(info, errors)
        return [InvoiceSummaryRow(row=row) for row in result.rows()]

    @strawberry.field(description="Aging of open receivables or payables per currency on `asOf` "
                      "(default today, UTC). A source that fails is an error and its invoices "
                      "are missing.")
    async def aging(
        self, info: Info, type: domain.InvoiceType, as_of: date | None = None,
        filter: Filter = None,
    ) -> list[AgingRow]:
        if filter is not None and filter.type is not None and filter.type is not type:
            raise BadInput(f"filter.type {filter.type.value} contradicts type {type.value}")
        request = await invoice_list_request(info, replace(filter or InvoiceFilter(), type=type))
        day = as_of or datetime.now(UTC).date()
        result, errors = await accumulate(info.context.loaders, request, lambda: Aging(day))
        _report(info, errors)
        return [AgingRow(row=row) for row in result.rows()]


def _report(info: Info, errors: list[UpstreamError]) -> None:
    path = info.path.as_list()
    info.context.partial_errors.extend(partial_error(exc, path) for exc in errors)
