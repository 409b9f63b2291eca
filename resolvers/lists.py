"""Building connections: one slice of a unified list, wrapped for GraphQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from gateway.paging import ListRequest, read_slice, total_count
from resolvers.errors import partial_error
from resolvers.types import Connection, Customer, Edge, Info, Invoice, PageInfo, Payment, Vendor

T = TypeVar("T")


async def connection(
    info: Info,
    request: ListRequest,
    first: int | None,
    after: str | None,
    wrap: Callable[[Any], T],
) -> Connection[T]:
    context = info.context
    page = await read_slice(context.loaders, context.adapters, request, first, after)
    path = info.path.as_list()
    context.partial_errors.extend(partial_error(exc, path) for exc in page.errors)
    edges = [Edge(cursor=cursor, node=wrap(record)) for record, cursor in page.edges]

    async def count_all() -> int | None:
        return None if page.errors else await total_count(context.loaders, request)

    return Connection(
        edges=edges,
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
    return await connection(info, request, first, after, Invoice.of)


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
