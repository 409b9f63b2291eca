"""The GraphQL object types of the unified schema: thin views over domain records."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import operator
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types.nodes import SelectedField, Selection

from gateway.adapters import Capability
from gateway.domain import records as domain
from gateway.domain.ids import GlobalId, decode_id, encode_id
from gateway.domain.lazy import LazyTuple
from gateway.domain.records import InvoiceQuery
from gateway.errors import UpstreamError
from gateway.lists.paging import ListRequest
from gateway.registry import KINDS
from resolvers.connections import Connection, connection
from resolvers.context import Context, Info
from resolvers.executor import NOT_HELD, in_place

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


W = TypeVar("W")
R = TypeVar("R")


def view(cls: type[W], type_name: str, record: Any) -> W:
    """The GraphQL object over a domain record.

    The record's fields are the object's own attributes, so strawberry resolves every plain
    field as an attribute read, without a per-field resolver call (profiling showed those
    wrappers to be much of the cost of a large page); money, addresses and line items are
    the domain's own objects, whose attributes the GraphQL types name alike. `__init__` is
    bypassed because it would need every field spelled out again. Records are slotted (no
    `__dict__`): their fields are read by name, in one `attrgetter` call.
    """
    obj = object.__new__(cls)
    names, read = record_fields(record.__class__)
    values = obj.__dict__
    values.update(zip(names, read(record), strict=True))
    values["record"] = record
    obj.__dict__["id"] = strawberry.ID(encode_id(type_name, record.source, record.remote_id))
    return obj


@functools.cache
def record_fields(record_type: Any) -> tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]:
    """A record class's field names and a reader of their values, in that order (a pure
    function of the class, so remembered per class)."""
    names = tuple(item.name for item in dataclasses.fields(record_type))
    getter = operator.attrgetter(*names)
    if len(names) == 1:
        return names, lambda record: (getter(record),)
    return names, getter


@strawberry.interface(description="An object with an opaque global id, fetchable by `node`.")
class Node:
    id: strawberry.ID = strawberry.field(description="Opaque global id, stable across requests.")


# Money, Address and LineItem are resolved from the domain's own objects of those names
# (see `view`): their fields are named like the domain's attributes.
@strawberry.type(description="An amount of money in major units with its ISO 4217 currency.")
class Money:
    amount: Decimal = strawberry.field(
        description='Decimal string with the currency\'s minor digits, e.g. "1500.00".'
    )
    currency: str = strawberry.field(description="ISO 4217 currency code.")

    @classmethod
    def of(cls, money: domain.Money | None) -> Money | None:
        """A GraphQL Money for fields that compute an amount (records' own amounts are
        served as the domain's Money directly)."""
        return None if money is None else cls(amount=money.amount, currency=money.currency)


@strawberry.type(description="A postal address, as much of it as the upstream gives.")
class Address:
    line1: str | None = strawberry.field(description="First street line.")
    line2: str | None = strawberry.field(description="Second street line.")
    city: str | None = strawberry.field(description="City or town.")
    region: str | None = strawberry.field(description="State, province or region.")
    postal_code: str | None = strawberry.field(description="Postal or ZIP code.")
    country: str | None = strawberry.field(description="Country, as the upstream names it.")


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


# The registered kinds as the schema names them ("a, b or c").
_KIND_NAMES = " or ".join(filter(None, [", ".join(list(KINDS)[:-1]), list(KINDS)[-1]]))


@strawberry.type(description="A configured upstream source.")
class Source:
    name: str = strawberry.field(description="The source's configured name.")
    kind: str = strawberry.field(description=f"Upstream kind: {_KIND_NAMES}.")
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
    # Set by a list whose selection asks each invoice's customer only for what the source's
    # embedded customer provides (`Adapter.provided_customer_fields`, resolvers/lists.py):
    # `customer` is then answered from the invoice itself, without reading the customers.
    customer_from_snapshot: strawberry.Private[bool] = False

    @classmethod
    def of(cls, record: domain.Invoice, customer_from_snapshot: bool = False) -> Invoice:
        invoice = view(cls, "Invoice", record)
        if customer_from_snapshot:
            invoice.__dict__["customer_from_snapshot"] = True
        lines = record.line_items
        if type(lines) is LazyTuple and lines.whole is not None:
            # Lines a list has read already (it does where they are selected) are served as
            # the plain tuple, which the executor completes in place (`resolvers.executor`
            # hands any other iterable to graphql-core's slower path).
            invoice.__dict__["line_items"] = lines.whole
        return invoice

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Invoice:
        """Federation `_entities`: the same by-id path (and loaders) as `node`."""
        return await _reference(info, id, cls)

    source: str = strawberry.field(description="Name of the source this invoice comes from.")

    remote_id: str = strawberry.field(description="The upstream's own id of this invoice.")

    type: domain.InvoiceType = strawberry.field(
        description="RECEIVABLE (to a customer) or PAYABLE (from a vendor)."
    )

    number: str | None = strawberry.field(description="The invoice number as printed on it.")

    status: domain.InvoiceStatus = strawberry.field(
        description="Unified status (see the status table of docs/gateway-contract.md)."
    )

    status_raw: str | None = strawberry.field(
        description="The upstream's own status word, unchanged."
    )

    approval_status: domain.ApprovalStatus | None = strawberry.field(
        description="Approval state of a payable under approval; else null."
    )

    is_overdue: bool = strawberry.field(
        description="Whether the upstream marks this invoice overdue."
    )

    issue_date: date | None = strawberry.field(description="Date of issue.")

    due_date: date | None = strawberry.field(description="Date payment is due.")

    currency: str = strawberry.field(
        description="ISO 4217 currency of every amount on this invoice."
    )

    subtotal: Money | None = strawberry.field(
        description="Total before tax; null where the upstream does not say."
    )

    tax_total: Money | None = strawberry.field(
        description="Total tax; null where the upstream does not say."
    )

    total: Money | None = strawberry.field(description="Total including tax.")

    amount_due: Money | None = strawberry.field(
        description="Amount still to be paid; null where unknown."
    )

    # Synchronous where the request already holds the customer (the usual case: the list
    # was read alongside the page, or the invoice embeds it), so a big page costs no
    # coroutine per invoice; the executor calls `customer_now` in place (resolvers.executor).
    @strawberry.field(description="The customer billed (receivables), from the same source.",
                      graphql_type="Customer | None")
    @in_place(lambda invoice, context: invoice.customer_now(context))
    def customer(self, info: Info) -> Customer | Awaitable[Customer | None] | None:
        now = self.customer_now(info.context)
        if now is not NOT_HELD:
            return cast("Customer | None", now)
        record = self.record
        loader = info.context.loaders.source(record.source).customer
        return _then(loader.load(record.customer_id), Customer.of)

    def customer_now(self, context: Context) -> Customer | Any | None:
        """The customer from what the request holds, or NOT_HELD where it must be read."""
        record = self.record
        snapshot = record.customer_snapshot
        if (
            self.customer_from_snapshot and snapshot is not None
            and snapshot.remote_id == record.customer_id
        ):
            return Customer.of(snapshot)
        adapter = context.adapter(record.source)
        if record.customer_id is not None and Capability.GET_CUSTOMER in adapter.capabilities:
            held = context.loaders.source(record.source).customer.ready(record.customer_id)
            return Customer.of(held.result()) if held is not None else NOT_HELD
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

    line_items: list[LineItem] = strawberry.field(description="The lines of the invoice.")

    @strawberry.field(description="Payments recorded against this invoice (empty where the "
                      "source has no payments).")
    async def payments(self, info: Info) -> list[Payment] | None:
        loaders = info.context.loaders.source(self.record.source)
        payments = await loaders.invoice_payments.load(self.record.remote_id)
        return [Payment.of(payment) for payment in payments]

    @strawberry.field(description="The invoices combined into this one (a grouped invoice).")
    def grouped_invoices(self) -> list[Invoice]:
        return [Invoice.of(child) for child in self.record.grouped]

    purchase_order_number: str | None = strawberry.field(
        description="Purchase order number or reference."
    )

    terms: str | None = strawberry.field(description="Payment terms, as the upstream words them.")

    tags: list[str] = strawberry.field(description="Tags or labels.")

    version: str | None = strawberry.field(
        description="The upstream's version or lock token of this record."
    )

    created_at: datetime | None = strawberry.field(
        description="When the record was created upstream (UTC)."
    )

    updated_at: datetime | None = strawberry.field(
        description="When the record was last changed upstream (UTC)."
    )

    remote_data: JSON = strawberry.field(description="The upstream record exactly as received.")


NodeT = TypeVar("NodeT", bound=Node)


async def _then(pending: Awaitable[R], view_of: Callable[[R], W]) -> W:
    return view_of(await pending)


async def _reference(info: Info, id: strawberry.ID, cls: type[NodeT]) -> NodeT:
    node = await load_node(info, decode_id(id, cls.__name__))
    assert isinstance(node, cls)
    return node


async def _party_invoices(
    info: Info, source: str, query: InvoiceQuery, first: int | None, after: str | None
) -> Connection[Invoice]:
    adapter = info.context.adapter(source)
    sources = (source,) if Capability.LIST_INVOICES in adapter.capabilities else ()
    return await invoice_connection(info, ListRequest("invoices", sources, query), first, after)


# A customer's GraphQL fields as an embedded customer answers them: these from its source
# and id alone; the others (GraphQL name -> domain attribute) only where the source's
# `Adapter.provided_customer_fields` lists the attribute. A test keeps the two complete.
FROM_ANY_SNAPSHOT = frozenset({"__typename", "id", "source", "remoteId", "invoices"})
CUSTOMER_ATTRIBUTES = {
    "name": "name", "email": "email", "phone": "phone", "address": "address",
    "remoteData": "remote_data",
}


def answered_by_snapshot(names: frozenset[str], provided: frozenset[str]) -> bool:
    """Whether a selection of these customer fields can be answered from an embedded
    customer that carries the `provided` attributes."""
    return all(
        name in FROM_ANY_SNAPSHOT or CUSTOMER_ATTRIBUTES.get(name) in provided
        for name in names
    )


@strawberry.type(description="Fields that customers and vendors share.")
class Party(Node):
    record: strawberry.Private[domain.Customer | domain.Vendor]

    source: str = strawberry.field(description="Name of the source this party comes from.")

    remote_id: str = strawberry.field(description="The upstream's own id of this party.")

    name: str | None = strawberry.field(description="Display name.")

    email: str | None = strawberry.field(description="Email address.")

    phone: str | None = strawberry.field(description="Phone number.")

    address: Address | None = strawberry.field(description="Postal (billing) address.")

    remote_data: JSON = strawberry.field(description="The upstream record exactly as received.")


@strawberry.federation.type(
    keys=["id"], description="A customer (the party a receivable is issued to)."
)
class Customer(Party):
    @classmethod
    def of(cls, record: domain.Customer) -> Customer:
        return view(cls, "Customer", record)

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
        return view(cls, "Vendor", record)

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
        return view(cls, "Payment", record)

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Payment:
        """Federation `_entities`: the same by-id path (and loaders) as `node`."""
        return await _reference(info, id, cls)

    source: str = strawberry.field(description="Name of the source this payment comes from.")

    remote_id: str = strawberry.field(description="The upstream's own id of this payment.")

    number: str | None = strawberry.field(description="Payment number.")

    date: dt.date | None = strawberry.field(description="Date of payment.")

    amount: Money | None = strawberry.field(description="Amount paid.")

    method: str | None = strawberry.field(description="Payment method, as the upstream names it.")

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

    remote_data: JSON = strawberry.field(description="The upstream record exactly as received.")


async def invoice_connection(
    info: Info, request: ListRequest, first: int | None, after: str | None
) -> Connection[Invoice]:
    selected = info.selected_fields
    # Lines are normalized when first read (`gateway.domain.lazy`). Where they are selected they are
    # read as each invoice is taken, so that a broken line fails its source there (a partial
    # error naming the field) instead of raising under the non-null `lineItems`, whose null
    # would void every list above it, up to the whole response.
    lines = _names_under(selected, *_LINES) is not None
    customer = _names_under(selected, ("nodes", "customer"), ("edges", "node", "customer"))
    # Sources whose invoices embed the customer with every field asked for answer
    # `customer` from the page itself (`Adapter.provided_customer_fields`).
    adapters = info.context.adapters
    embedded = frozenset(
        name for name in request.sources
        if customer is not None
        and answered_by_snapshot(customer, adapters[name].provided_customer_fields)
    )

    def wrap(record: domain.Invoice) -> Invoice:
        return Invoice.of(record, customer_from_snapshot=record.source in embedded)

    page = asyncio.ensure_future(connection(
        info, request, first, after, wrap if embedded else Invoice.of,
        _read_lines if lines else None,
    ))
    readers = [name for name in request.sources if name not in embedded]
    if customer is None or not readers:
        return await page
    # The customers are read alongside the page instead of after it, where one read gives
    # them all: the page's latency and theirs overlap (docs/performance.md, "latency bound").
    loaders = info.context.loaders
    prefetches = [loaders.source(name).prefetch_customers() for name in readers]
    await asyncio.gather(page, *prefetches)
    return page.result()


_LINES = [
    (*node, *child, "lineItems")
    for node in (("nodes",), ("edges", "node"))
    for child in ((), ("groupedInvoices",))
]


def _read_lines(invoice: domain.Invoice) -> None:
    for record in (invoice, *invoice.grouped):
        for _ in record.line_items:
            pass


def _names_under(
    fields: Sequence[Selection], *paths: tuple[str, ...]
) -> frozenset[str] | None:
    """The field names selected under the fields at `paths` (through fragments), or None
    where none of the paths is selected."""
    found: set[str] | None = None

    def names(selections: Sequence[Selection]) -> None:
        assert found is not None
        for selection in selections:
            if isinstance(selection, SelectedField):
                found.add(selection.name)
            else:  # inline fragment or fragment spread
                names(selection.selections)

    def walk(selections: Sequence[Selection], path: tuple[str, ...]) -> None:
        nonlocal found
        for selection in selections:
            if isinstance(selection, SelectedField):
                if selection.name != path[0]:
                    continue
                if len(path) == 1:
                    found = found if found is not None else set()
                    names(selection.selections)
                else:
                    walk(selection.selections, path[1:])
            else:
                walk(selection.selections, path)

    for field in fields:
        for path in paths:
            walk(field.selections, path)
    return frozenset(found) if found is not None else None


async def load_node(info: Info, gid: GlobalId) -> Node:
    """The object a global id names, through the request's loaders."""
    adapter = info.context.adapter(gid.source)
    loaders = info.context.loaders.source(adapter.name)
    if gid.type_name == "Invoice":
        return Invoice.of(await loaders.invoice.load(gid.remote_id))
    if gid.type_name == "Customer":
        return Customer.of(await loaders.customer.load(gid.remote_id))
    if gid.type_name == "Vendor":
        return Vendor.of(await loaders.vendor.load(gid.remote_id))
    return Payment.of(await loaders.payment.load(gid.remote_id))
