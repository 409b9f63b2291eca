"""The root Query: lists, lookups by id, `node`, `nodes` and `sources`."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Annotated

import strawberry

from gateway.adapters import Capability
from gateway.domain import records as domain
from gateway.domain.ids import GlobalId, decode_id
from gateway.errors import BadInput, SourceForbidden, UpstreamError
from gateway.lists.paging import ListRequest, listing_sources
from gateway.lists.selection import InvoiceSelection, select_invoices
from resolvers.connections import Connection
from resolvers.context import Info
from resolvers.errors import partial_error
from resolvers.lists import customer_connection, payment_connection, vendor_connection
from resolvers.types import (
    Customer,
    Invoice,
    Node,
    Payment,
    Source,
    Vendor,
    invoice_connection,
    load_node,
)


@strawberry.input(description="Filters for `invoices`; all given filters must match.")
class InvoiceFilter:
    sources: list[str] | None = strawberry.field(
        default=None, description="Only these sources (by configured name)."
    )
    status: list[domain.InvoiceStatus] | None = strawberry.field(
        default=None, description="Only invoices with one of these unified statuses."
    )
    type: domain.InvoiceType | None = strawberry.field(
        default=None, description="Only receivables or only payables."
    )
    issued_from: date | None = strawberry.field(
        default=None, description="Issued on or after this date."
    )
    issued_to: date | None = strawberry.field(
        default=None, description="Issued on or before this date."
    )
    customer_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only invoices of this customer (global id)."
    )
    vendor_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only invoices of this vendor (global id)."
    )
    due_from: date | None = strawberry.field(
        default=None, description="Due on or after this date."
    )
    due_to: date | None = strawberry.field(
        default=None, description="Due on or before this date."
    )
    updated_since: datetime | None = strawberry.field(
        default=None, description="Updated at or after this instant (`updatedAt`)."
    )
    number: str | None = strawberry.field(
        default=None, description="Only the invoice with this number (exact, any case)."
    )
    search: str | None = strawberry.field(
        default=None, description="Text found (any case) in the number, the customer's name "
        "or the vendor's name."
    )
    overdue: bool | None = strawberry.field(
        default=None, description="Only invoices whose `isOverdue` is this."
    )
    currency: list[str] | None = strawberry.field(
        default=None, description="Only invoices in one of these currencies (ISO 4217)."
    )


OrderField = strawberry.enum(
    domain.OrderField, name="InvoiceOrderField",
    description="What an ordered invoice list sorts by: ISSUE_DATE, DUE_DATE, CREATED_AT, "
    "UPDATED_AT (instants), NUMBER (the text, by Unicode code point).",
)
OrderDirection = strawberry.enum(
    domain.OrderDirection, description="ASC: smallest first; DESC: largest first. A missing "
    "value comes last either way.",
)


@strawberry.input(description="One sort key of `invoices`; several sort by the first, then "
                  "the next. Ties fall back to source order, then each source's stable order.")
class InvoiceOrder:
    field: domain.OrderField = strawberry.field(description="What to sort by.")
    direction: domain.OrderDirection | None = strawberry.field(
        default=domain.OrderDirection.ASC, description="Ascending (default) or descending."
    )


async def invoice_list_request(
    info: Info, where: InvoiceFilter | None, order: list[InvoiceOrder] | None = None
) -> ListRequest:
    where = where or InvoiceFilter()
    selection = InvoiceSelection(
        sources=where.sources, statuses=where.status, type=where.type,
        issued_from=where.issued_from, issued_to=where.issued_to,
        customer_id=where.customer_id, vendor_id=where.vendor_id,
        due_from=where.due_from, due_to=where.due_to, updated_since=where.updated_since,
        number=where.number, search=where.search, overdue=where.overdue,
        currencies=where.currency,
        order=[domain.InvoiceOrder(o.field, o.direction or domain.OrderDirection.ASC)
               for o in order or ()],
    )
    return await select_invoices(info.context.adapters, selection, info.context.configured)


def _list_request(info: Info, resource: str, capability: Capability,
                  sources: list[str] | None, search: str | None = None) -> ListRequest:
    for name in sources or ():
        info.context.adapter(name)
    return ListRequest(resource, listing_sources(info.context.adapters, capability, sources),
                       search=search or None)


Search = Annotated[
    str | None,
    strawberry.argument(description="Only records whose name or email holds this text "
                        "(any case)."),
]


First = Annotated[
    int | None, strawberry.argument(description="How many records to return (0-500, default 50).")
]
After = Annotated[
    str | None,
    strawberry.argument(description="Return the records after this cursor (an `endCursor`)."),
]


@strawberry.type(description="Read the unified invoice data of every configured source.")
class Query:
    @strawberry.field(description="Invoices of every source that can list them, in source "
                      "order and each source's stable order unless `orderBy` says otherwise; "
                      "page with `first` / `after`.")
    async def invoices(
        self,
        info: Info,
        filter: Annotated[
            InvoiceFilter | None, strawberry.argument(description="Which invoices to return.")
        ] = None,
        order_by: Annotated[
            list[InvoiceOrder] | None,
            strawberry.argument(description="Sort keys, first one first (see InvoiceOrder)."),
        ] = None,
        first: First = None,
        after: After = None,
    ) -> Connection[Invoice]:
        request = await invoice_list_request(info, filter, order_by)
        return await invoice_connection(info, request, first, after)

    @strawberry.field(description="One invoice: by global `id`, or by `source` and the "
                      "upstream's own `remoteId`. Null (with an error) when not found.")
    async def invoice(
        self,
        info: Info,
        id: strawberry.ID | None = None,
        source: str | None = None,
        remote_id: str | None = None,
    ) -> Invoice | None:
        if id is not None and (source is not None or remote_id is not None):
            raise BadInput("give either 'id' or 'source' and 'remoteId', not both")
        if id is not None:
            gid = decode_id(id, "Invoice")
        elif source is not None and remote_id:
            gid = GlobalId("Invoice", source, remote_id)
        else:
            raise BadInput("give either 'id' or both 'source' and 'remoteId'")
        node = await load_node(info, gid)
        assert isinstance(node, Invoice)
        return node

    @strawberry.field(description="Customers of every source that can list them.")
    async def customers(
        self,
        info: Info,
        sources: list[str] | None = None,
        search: Search = None,
        first: First = None,
        after: After = None,
    ) -> Connection[Customer]:
        request = _list_request(info, "customers", Capability.LIST_CUSTOMERS, sources, search)
        return await customer_connection(info, request, first, after)

    @strawberry.field(description="One customer by global id.")
    async def customer(self, info: Info, id: strawberry.ID) -> Customer | None:
        node = await load_node(info, decode_id(id, "Customer"))
        assert isinstance(node, Customer)
        return node

    @strawberry.field(description="Vendors of every source that can list them.")
    async def vendors(
        self,
        info: Info,
        sources: list[str] | None = None,
        search: Search = None,
        first: First = None,
        after: After = None,
    ) -> Connection[Vendor]:
        request = _list_request(info, "vendors", Capability.LIST_VENDORS, sources, search)
        return await vendor_connection(info, request, first, after)

    @strawberry.field(description="One vendor by global id.")
    async def vendor(self, info: Info, id: strawberry.ID) -> Vendor | None:
        node = await load_node(info, decode_id(id, "Vendor"))
        assert isinstance(node, Vendor)
        return node

    @strawberry.field(description="Payments of every source that can list them.")
    async def payments(
        self,
        info: Info,
        sources: list[str] | None = None,
        first: First = None,
        after: After = None,
    ) -> Connection[Payment]:
        request = _list_request(info, "payments", Capability.LIST_PAYMENTS, sources)
        return await payment_connection(info, request, first, after)

    @strawberry.field(description="One payment by global id.")
    async def payment(self, info: Info, id: strawberry.ID) -> Payment | None:
        node = await load_node(info, decode_id(id, "Payment"))
        assert isinstance(node, Payment)
        return node

    @strawberry.field(description="Any object by its global id.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        return await load_node(info, decode_id(id))

    @strawberry.field(description="Many objects by global id, in the order given; an id that "
                      "cannot be resolved gives null at its place and an error.")
    async def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
        path = info.path.as_list()

        async def one(index: int, value: str) -> Node | None:
            try:
                return await load_node(info, decode_id(value))
            except (UpstreamError, SourceForbidden, BadInput) as exc:
                info.context.partial_errors.append(partial_error(exc, [*path, index]))
                return None

        return list(await asyncio.gather(*(one(i, value) for i, value in enumerate(ids))))

    @strawberry.field(description="The configured sources and what each can do.")
    def sources(self, info: Info) -> list[Source]:
        return [
            Source(name=name, kind=adapter.kind,
                   capabilities=sorted(str(c) for c in adapter.capabilities))
            for name, adapter in info.context.adapters.items()
        ]
