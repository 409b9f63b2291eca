"""Building connections: one slice of a unified list, wrapped for GraphQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from strawberry.types.nodes import SelectedField, Selection

from gateway import domain
from gateway.paging import ListRequest, read_slice, total_count
from resolvers.errors import partial_error
from resolvers.types import (
    Connection,
    Customer,
    Edge,
    Info,
    Invoice,
    PageInfo,
    Payment,
    Vendor,
    answered_by_snapshot,
)

T = TypeVar("T")


async def connection(
    info: Info,
    request: ListRequest,
    first: int | None,
    after: str | None,
    wrap: Callable[[Any], T],
    serve: Callable[[Any], object] | None = None,
) -> Connection[T]:
    context = info.context
    page = await read_slice(context.loaders, context.adapters, request, first, after, serve)
    path = info.path.as_list()
    context.partial_errors.extend(partial_error(exc, path) for exc in page.errors)
    edges = [Edge(cursor=cursor, node=wrap(record)) for record, cursor in page.edges]

    async def count_all() -> int | None:
        return None if page.errors else await total_count(context.loaders, request)

    return Connection(
        edges=edges,
        nodes=[edge.node for edge in edges],
        page_info=PageInfo(
            has_next_page=page.has_next,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else after,
        ),
        count_all=count_all,
    )


async def invoice_connection(
    info: Info, request: ListRequest, first: int | None, after: str | None
) -> Connection[Invoice]:
    selected = info.selected_fields
    # Lines are normalized when first read (`gateway.lazy`). Where they are selected they are
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
    # them all: the page's latency and theirs overlap (README, "latency").
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


async def customer_connection(
    info: Info, request: ListRequest, first: int | None, after: str | None
) -> Connection[Customer]:
    return await connection(info, request, first, after, Customer.of)


async def vendor_connection(
    info: Info, request: ListRequest, first: int | None, after: str | None
) -> Connection[Vendor]:
    return await connection(info, request, first, after, Vendor.of)


async def payment_connection(
    info: Info, request: ListRequest, first: int | None, after: str | None
) -> Connection[Payment]:
    return await connection(info, request, first, after, Payment.of)
