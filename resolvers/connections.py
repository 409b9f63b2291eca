"""The connection types (a page of a list with its cursors) and the generic builder that
reads one slice of a unified list into a connection. No object type lives here: the
object types (`resolvers.types`) and the lists (`resolvers.lists`) build on this."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import strawberry

from gateway.lists.ordered import read_ordered_slice
from gateway.lists.paging import ListRequest, read_slice, total_count
from resolvers.context import Info
from resolvers.errors import partial_error

T = TypeVar("T")


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
    # A plain field (the edges' nodes, listed when the page is built), so the executor
    # completes the list in place rather than through a resolver (`resolvers.executor`).
    nodes: list[T] = strawberry.field(description="The records of this page (the edges' nodes).")
    count_all: strawberry.Private[Callable[[], Awaitable[int | None]]]

    @strawberry.field(
        description="Records in the whole list, or null where a source cannot say (or where "
        "the gateway filters part of the query itself)."
    )
    async def total_count(self) -> int | None:
        return await self.count_all()


async def connection(
    info: Info,
    request: ListRequest,
    first: int | None,
    after: str | None,
    wrap: Callable[[Any], T],
    serve: Callable[[Any], object] | None = None,
) -> Connection[T]:
    context = info.context
    read = read_ordered_slice if request.query is not None and request.query.order else read_slice
    page = await read(context.loaders, context.adapters, request, first, after, serve)
    path = info.path.as_list()
    context.partial_errors.extend(partial_error(exc, path) for exc in page.errors)
    edges = [Edge(cursor=cursor, node=wrap(record)) for record, cursor in page.edges]

    async def count_all() -> int | None:
        return None if page.errors else await total_count(context.loaders, request)

    return connection_of(edges, page.has_next, after, count_all)


async def _uncounted() -> int | None:
    return None


def connection_of(
    edges: list[Edge[T]],
    has_next: bool,
    after: str | None,
    count_all: Callable[[], Awaitable[int | None]] = _uncounted,
) -> Connection[T]:
    """A connection over a page's edges: the page info follows from the edges, whether more
    follow, and the cursor the page was read after."""
    return Connection(
        edges=edges,
        nodes=[edge.node for edge in edges],
        page_info=PageInfo(
            has_next_page=has_next,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else after,
        ),
        count_all=count_all,
    )
