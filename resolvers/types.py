"""The GraphQL object types of the unified schema: thin views over domain records."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Generic, TypeVar

import strawberry
from strawberry.scalars import JSON

from gateway import domain
from gateway.adapters import Capability
from gateway.domain import InvoiceQuery
from gateway.errors import UpstreamError
from gateway.ids import decode_id, encode_id
from gateway.paging import ListRequest
from resolvers.context import Context

Info = strawberry.Info[Context, None]
T = TypeVar("T")

InvoiceStatus = strawberry.enum(
    domain.InvoiceStatus,
    description="Unified invoice status; the upstream's own word is in `statusRaw`.",
)
InvoiceType = strawberry.enum(
    domain.InvoiceType,
    description="RECEIVABLE: issued by us to a customer. PAYABLE: a bill from a vendor.",
)
ApprovalStatus = strawberry.enum(
    domain.ApprovalStatus, description="Where a payable stands in its approval workflow."
)


@strawberry.interface(description="An object with an opaque global id, fetchable by `node`.")
class Node:
    id: strawberry.ID = strawberry.field(description="Opaque global id, stable across requests.")


@strawberry.type(description="An amount of money in major units with its ISO 4217 currency.")
class Money:
    amount: Decimal = strawberry.field(
        description='Decimal string with the currency\'s minor digits, e.g. "1500.00".'
    )
    currency: str = strawberry.field(description="ISO 4217 currency code.")

    @classmethod
    def of(cls, money: domain.Money | None) -> Money | None:
        return None if money is None else cls(amount=money.amount, currency=money.currency)


@strawberry.type(description="A postal address, as much of it as the upstream gives.")
class Address:
    line1: str | None = strawberry.field(description="First street line.")
    line2: str | None = strawberry.field(description="Second street line.")
    city: str | None = strawberry.field(description="City or town.")
    region: str | None = strawberry.field(description="State, province or region.")
    postal_code: str | None = strawberry.field(description="Postal or ZIP code.")
    country: str | None = strawberry.field(description="Country, as the upstream names it.")

    @classmethod
    def of(cls, address: domain.Address | None) -> Address | None:
        if address is None:
            return None
        return cls(
            line1=address.line1, line2=address.line2, city=address.city,
            region=address.region, postal_code=address.postal_code, country=address.country,
        )


@strawberry.type(description="One line of an invoice.")
class LineItem:
    id: strawberry.ID | None = strawberry.field(description="The upstream's id of the line.")
    description: str | None = strawberry.field(description="What was sold or billed.")
    sku: str | None = strawberry.field(description="Product code, where the upstream has one.")
    quantity: Decimal | None = strawberry.field(description="Quantity, as a decimal string.")
    unit_price: Money | None = strawberry.field(description="Price of one unit before tax.")
    tax_rate: Decimal | None = strawberry.field(description="Tax rate in percent, e.g. \"19\".")
    tax_amount: Money | None = strawberry.field(description="Tax on this line.")
    total: Money | None = strawberry.field(description="Line total as the upstream states it.")

    @classmethod
    def of(cls, item: domain.LineItem) -> LineItem:
        return cls(
            id=strawberry.ID(item.id) if item.id is not None else None,
            description=item.description, sku=item.sku, quantity=item.quantity,
            unit_price=Money.of(item.unit_price), tax_rate=item.tax_rate,
            tax_amount=Money.of(item.tax_amount), total=Money.of(item.total),
        )


@strawberry.type(description="Paging state of a connection.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="Whether more records follow.")
    has_previous_page: bool = strawberry.field(
        description="Whether this page began after a cursor."
    )
    start_cursor: str | None = strawberry.field(description="Cursor of the first edge.")
    end_cursor: str | None = strawberry.field(
        description="Cursor of the last edge; pass it as `after` for the next page."
    )


@strawberry.type(description="A record and its cursor.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(description="Opaque position just after this record.")
    node: T = strawberry.field(description="The record.")


@strawberry.type(
    description="A page of a list across sources: sources in configuration order, each in its "
    "upstream's stable order."
)
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The records of this page with cursors.")
    page_info: PageInfo = strawberry.field(description="Whether and how to get the next page.")
    count_all: strawberry.Private[Callable[[], Awaitable[int | None]]]

    @strawberry.field(description="The records of this page (the edges' nodes).")
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]

    @strawberry.field(
        description="Records in the whole list, or null where a source cannot say (or where "
        "the gateway filters part of the query itself)."
    )
    async def total_count(self) -> int | None:
        return await self.count_all()


@strawberry.type(description="A configured upstream source.")
class Source:
    name: str = strawberry.field(description="The source's configured name.")
    kind: str = strawberry.field(
        description="Upstream kind: makershub, makini, invoicematic or cloudbilling."
    )
    capabilities: list[str] = strawberry.field(
        description='What the source can do, e.g. "invoices.list", "customers.get".'
    )

    @strawberry.field(description="Whether the upstream answered an authenticated request now.")
    async def healthy(self, info: Info) -> bool:
        try:
            await info.context.adapter(self.name).check()
        except UpstreamError:
            return False
        return True


@strawberry.federation.type(
    keys=["id"], description="An invoice from any source, receivable or payable."
)
class Invoice(Node):
    record: strawberry.Private[domain.Invoice]

    @classmethod
    def of(cls, record: domain.Invoice) -> Invoice:
        return cls(id=strawberry.ID(encode_id("Invoice", record.source, record.remote_id)),
                   record=record)

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Invoice:
        """Federation `_entities`: the same by-id path (and loaders) as `node`."""
        return await _reference(info, id, cls)

    @strawberry.field(description="Name of the source this invoice comes from.")
    def source(self) -> str:
        return self.record.source

    @strawberry.field(description="The upstream's own id of this invoice.")
    def remote_id(self) -> str:
        return self.record.remote_id

    @strawberry.field(description="RECEIVABLE (to a customer) or PAYABLE (from a vendor).")
    def type(self) -> domain.InvoiceType:
        return self.record.type

    @strawberry.field(description="The invoice number as printed on it.")
    def number(self) -> str | None:
        return self.record.number

    @strawberry.field(description="Unified status (see the README's status table).")
    def status(self) -> domain.InvoiceStatus:
        return self.record.status

    @strawberry.field(description="The upstream's own status word, unchanged.")
    def status_raw(self) -> str | None:
        return self.record.status_raw

    @strawberry.field(description="Approval state of a payable under approval; else null.")
    def approval_status(self) -> domain.ApprovalStatus | None:
        return self.record.approval_status

    @strawberry.field(description="Whether the upstream marks this invoice overdue.")
    def is_overdue(self) -> bool:
        return self.record.is_overdue

    @strawberry.field(description="Date of issue.")
    def issue_date(self) -> date | None:
        return self.record.issue_date

    @strawberry.field(description="Date payment is due.")
    def due_date(self) -> date | None:
        return self.record.due_date

    @strawberry.field(description="ISO 4217 currency of every amount on this invoice.")
    def currency(self) -> str:
        return self.record.currency

    @strawberry.field(description="Total before tax; null where the upstream does not say.")
    def subtotal(self) -> Money | None:
        return Money.of(self.record.subtotal)

    @strawberry.field(description="Total tax; null where the upstream does not say.")
    def tax_total(self) -> Money | None:
        return Money.of(self.record.tax_total)

    @strawberry.field(description="Total including tax.")
    def total(self) -> Money | None:
        return Money.of(self.record.total)

    @strawberry.field(description="Amount still to be paid; null where unknown.")
    def amount_due(self) -> Money | None:
        return Money.of(self.record.amount_due)

    @strawberry.field(description="The customer billed (receivables), from the same source.")
    async def customer(self, info: Info) -> Customer | None:
        record = self.record
        adapter = info.context.adapter(record.source)
        if record.customer_id is not None and Capability.GET_CUSTOMER in adapter.capabilities:
            loaders = info.context.loaders.source(record.source)
            return Customer.of(await loaders.customer.load(record.customer_id))
        snapshot = record.customer_snapshot
        return Customer.of(snapshot) if snapshot is not None else None

    @strawberry.field(description="The vendor who billed us (payables), from the same source.")
    async def vendor(self, info: Info) -> Vendor | None:
        record = self.record
        adapter = info.context.adapter(record.source)
        if record.vendor_id is not None and Capability.GET_VENDOR in adapter.capabilities:
            loaders = info.context.loaders.source(record.source)
            return Vendor.of(await loaders.vendor.load(record.vendor_id))
        snapshot = record.vendor_snapshot
        return Vendor.of(snapshot) if snapshot is not None else None

    @strawberry.field(description="The lines of the invoice.")
    def line_items(self) -> list[LineItem]:
        return [LineItem.of(item) for item in self.record.line_items]

    @strawberry.field(description="Payments recorded against this invoice (empty where the "
                      "source has no payments).")
    async def payments(self, info: Info) -> list[Payment] | None:
        loaders = info.context.loaders.source(self.record.source)
        payments = await loaders.invoice_payments.load(self.record.remote_id)
        return [Payment.of(payment) for payment in payments]

    @strawberry.field(description="The invoices combined into this one (a grouped invoice).")
    def grouped_invoices(self) -> list[Invoice]:
        return [Invoice.of(child) for child in self.record.grouped]

    @strawberry.field(description="Purchase order number or reference.")
    def purchase_order_number(self) -> str | None:
        return self.record.purchase_order_number

    @strawberry.field(description="Payment terms, as the upstream words them.")
    def terms(self) -> str | None:
        return self.record.terms

    @strawberry.field(description="Tags or labels.")
    def tags(self) -> list[str]:
        return list(self.record.tags)

    @strawberry.field(description="The upstream's version or lock token of this record.")
    def version(self) -> str | None:
        return self.record.version

    @strawberry.field(description="When the record was created upstream (UTC).")
    def created_at(self) -> datetime | None:
        return self.record.created_at

    @strawberry.field(description="When the record was last changed upstream (UTC).")
    def updated_at(self) -> datetime | None:
        return self.record.updated_at

    @strawberry.field(description="The upstream record exactly as received.")
    def remote_data(self) -> JSON:
        return JSON(self.record.remote_data)


NodeT = TypeVar("NodeT", bound=Node)


async def _reference(info: Info, id: strawberry.ID, cls: type[NodeT]) -> NodeT:
    from resolvers.queries import _load

    node = await _load(info, decode_id(id, cls.__name__))
    assert isinstance(node, cls)
    return node


async def _party_invoices(
    info: Info, source: str, query: InvoiceQuery, first: int | None, after: str | None
) -> Connection[Invoice]:
    from resolvers.lists import invoice_connection

    adapter = info.context.adapter(source)
    sources = (source,) if Capability.LIST_INVOICES in adapter.capabilities else ()
    return await invoice_connection(info, ListRequest("invoices", sources, query), first, after)


@strawberry.type(description="Fields that customers and vendors share.")
class Party(Node):
    record: strawberry.Private[domain.Customer | domain.Vendor]

    @strawberry.field(description="Name of the source this party comes from.")
    def source(self) -> str:
        return self.record.source

    @strawberry.field(description="The upstream's own id of this party.")
    def remote_id(self) -> str:
        return self.record.remote_id

    @strawberry.field(description="Display name.")
    def name(self) -> str | None:
        return self.record.name

    @strawberry.field(description="Email address.")
    def email(self) -> str | None:
        return self.record.email

    @strawberry.field(description="Phone number.")
    def phone(self) -> str | None:
        return self.record.phone

    @strawberry.field(description="Postal (billing) address.")
    def address(self) -> Address | None:
        return Address.of(self.record.address)

    @strawberry.field(description="The upstream record exactly as received.")
    def remote_data(self) -> JSON:
        return JSON(self.record.remote_data)


@strawberry.federation.type(
    keys=["id"], description="A customer (the party a receivable is issued to)."
)
class Customer(Party):
    @classmethod
    def of(cls, record: domain.Customer) -> Customer:
        return cls(id=strawberry.ID(encode_id("Customer", record.source, record.remote_id)),
                   record=record)

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Customer:
        """Federation `_entities`: the same by-id path (and loaders) as `node`."""
        return await _reference(info, id, cls)

    @strawberry.field(description="This customer's invoices in its source.")
    async def invoices(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Invoice]:
        query = InvoiceQuery(customer_id=self.record.remote_id)
        return await _party_invoices(info, self.record.source, query, first, after)


@strawberry.federation.type(
    keys=["id"], description="A vendor (the party a payable comes from)."
)
class Vendor(Party):
    @classmethod
    def of(cls, record: domain.Vendor) -> Vendor:
        return cls(id=strawberry.ID(encode_id("Vendor", record.source, record.remote_id)),
                   record=record)

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Vendor:
        """Federation `_entities`: the same by-id path (and loaders) as `node`."""
        return await _reference(info, id, cls)

    @strawberry.field(description="This vendor's invoices in its source (empty where the "
                      "source cannot list invoices).")
    async def invoices(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Invoice]:
        query = InvoiceQuery(vendor_id=self.record.remote_id)
        return await _party_invoices(info, self.record.source, query, first, after)


@strawberry.federation.type(
    keys=["id"], description="A payment received against an invoice."
)
class Payment(Node):
    record: strawberry.Private[domain.Payment]

    @classmethod
    def of(cls, record: domain.Payment) -> Payment:
        return cls(id=strawberry.ID(encode_id("Payment", record.source, record.remote_id)),
                   record=record)

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Payment:
        """Federation `_entities`: the same by-id path (and loaders) as `node`."""
        return await _reference(info, id, cls)

    @strawberry.field(description="Name of the source this payment comes from.")
    def source(self) -> str:
        return self.record.source

    @strawberry.field(description="The upstream's own id of this payment.")
    def remote_id(self) -> str:
        return self.record.remote_id

    @strawberry.field(description="Payment number.")
    def number(self) -> str | None:
        return self.record.number

    @strawberry.field(description="Date of payment.")
    def date(self) -> dt.date | None:
        return self.record.date

    @strawberry.field(description="Amount paid.")
    def amount(self) -> Money | None:
        return Money.of(self.record.amount)

    @strawberry.field(description="Payment method, as the upstream names it.")
    def method(self) -> str | None:
        return self.record.method

    @strawberry.field(description="The invoice this payment settles, if any.")
    async def invoice(self, info: Info) -> Invoice | None:
        if self.record.invoice_id is None:
            return None
        loaders = info.context.loaders.source(self.record.source)
        return Invoice.of(await loaders.invoice.load(self.record.invoice_id))

    @strawberry.field(description="The customer who paid.")
    async def customer(self, info: Info) -> Customer | None:
        if self.record.customer_id is None:
            return None
        loaders = info.context.loaders.source(self.record.source)
        return Customer.of(await loaders.customer.load(self.record.customer_id))

    @strawberry.field(description="The upstream record exactly as received.")
    def remote_data(self) -> JSON:
        return JSON(self.record.remote_data)
