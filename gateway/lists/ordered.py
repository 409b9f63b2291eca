"""Reading an ordered invoice list across sources (`invoices(orderBy: ...)`, docs/lists.md).

The list is in one total order: the requested sort key (`gateway.domain.ordering`), then
the source's place in the configuration, then the record's place in its source's stable
order (`Adapter.list_position`). Every source yields its matching records in that order as
an async stream, read lazily; a k-way merge (a heap holding each stream's next record)
takes the smallest each time, so a page of 50 reads from each source only as far as it
must. A cursor carries the last record's total-order key, and the next page is everything
strictly after it: a write elsewhere in the list does not move it.

A source whose upstream can sort by the first order's field (`Adapter.sorts`) is read in
that order page by page; its records equal on that field are put in the full order here
(a run of equal values is held until the value changes), and records without the value
are set aside and come last, wherever the upstream puts them. Any other source is read in
full (through the read cache, so the pages of a paging client are read once per cache
lifetime) and sorted here.
"""

from __future__ import annotations

import asyncio
import heapq
from asyncio import Future
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from operator import itemgetter
from typing import Any

from gateway.adapters import Adapter, Page
from gateway.domain.ids import decode_ordered_cursor, encode_ordered_cursor
from gateway.domain.ordering import NULL, order_key
from gateway.domain.records import Invoice, InvoiceQuery
from gateway.errors import InvalidCursor, InvalidPaging, UpstreamError
from gateway.lists.loaders import Loaders
from gateway.lists.paging import DEFAULT_FIRST, MAX_FIRST, ListRequest, Slice, retrieved

# Pages asked for ahead of the one being read, for a source read in full whose first page
# does not say how many there are (MakersHub: each page is 25 GETs).
READ_AHEAD = 4
TotalKey = tuple[Any, ...]
Item = tuple[TotalKey, Invoice]


async def read_ordered_slice(
    loaders: Loaders,
    adapters: Mapping[str, Adapter],
    request: ListRequest,
    first: int | None,
    after: str | None,
    serve: Callable[[Any], object] | None = None,
) -> Slice:
    """Up to `first` invoices after the cursor `after` in the list's total order."""
    limit = DEFAULT_FIRST if first is None else first
    if not 0 <= limit <= MAX_FIRST:
        raise InvalidPaging(f"'first' must be between 0 and {MAX_FIRST}, got {limit}")
    query = request.query
    assert query is not None and query.order
    start = None
    if after is not None:
        start = decode_ordered_cursor(after, request.fingerprint)
        _check_shape(after, start, query, len(request.sources))
    errors: list[UpstreamError] = []
    found: list[tuple[Any, str]] = []
    if limit == 0:
        return Slice([], False, errors)
    streams = [
        _source_stream(loaders, adapters[name], request, index, start)
        for index, name in enumerate(request.sources)
    ]

    async def head(index: int) -> Item | None:
        try:
            return await anext(streams[index], None)
        except UpstreamError as exc:
            errors.append(exc)
            return None

    want = limit + 1  # one more than asked, to know whether a next page exists
    try:
        # Every source's first record at once: their first reads run in parallel.
        firsts = await asyncio.gather(*(head(index) for index in range(len(streams))))
        heap = [(item[0], index, item[1]) for index, item in enumerate(firsts) if item]
        heapq.heapify(heap)  # keys are unique (they end with source and position)
        fp = request.fingerprint
        while heap and len(found) < want:
            key, index, record = heapq.heappop(heap)
            if serve is not None and len(found) + 1 < want:  # not the one past `first`
                try:
                    serve(record)
                except UpstreamError as exc:  # a part breaking the wire contract
                    errors.append(exc)
                    continue  # this source ends here, as in an unordered list
            found.append((record, encode_ordered_cursor(key, fp)))
            loaders.source(request.sources[index]).prime("invoices", record)
            following = await head(index)
            if following is not None:
                heapq.heappush(heap, (following[0], index, following[1]))
    finally:
        for stream in streams:
            await stream.aclose()
    return Slice(found[:limit], len(found) > limit, errors)


def _check_shape(text: str, start: TotalKey, query: InvoiceQuery, sources: int) -> None:
    """A cursor's key must have the shape of this list's keys (a forged one compares
    with nothing)."""
    ok = (
        len(start) == 3
        and isinstance(start[0], tuple)
        and len(start[0]) == len(query.order)
        and all(isinstance(part, tuple) and (part == NULL or len(part) == 2)
                for part in start[0])
        and isinstance(start[1], int)
        and 0 <= start[1] < sources
        and isinstance(start[2], tuple)
    )
    if not ok:
        raise InvalidCursor(f"{text!r} is not a valid cursor of this ordered list")


async def _source_stream(
    loaders: Loaders, adapter: Adapter, request: ListRequest, index: int,
    start: TotalKey | None,
) -> AsyncGenerator[Item, None]:
    """The matching invoices of one source strictly after `start`, in the total order."""
    query = request.query
    assert query is not None
    orders = query.order

    def keyed(record: Invoice) -> Item:
        return (order_key(record, orders), index, adapter.list_position(record)), record

    def wanted(key: TotalKey) -> bool:
        if start is None:
            return True
        try:
            return key > start
        except TypeError:  # parts of another type than this list's: not our cursor
            raise InvalidCursor("the cursor does not belong to this ordered list") from None

    in_full = not adapter.sorts(orders[0])
    records = _matching(loaders, request, adapter.name, in_full)
    if in_full:
        items = [keyed(record) async for record in records]
        items.sort(key=itemgetter(0))
        for item in items:
            if wanted(item[0]):
                yield item
        return
    run: list[Item] = []
    nulls: list[Item] = []
    async for record in records:
        item = keyed(record)
        primary = item[0][0][0]
        if primary == NULL:
            nulls.append(item)
            continue
        if run and run[0][0][0][0] != primary:
            for held in sorted(run, key=itemgetter(0)):
                if wanted(held[0]):
                    yield held
            run = []
        run.append(item)
    for held in [*sorted(run, key=itemgetter(0)), *sorted(nulls, key=itemgetter(0))]:
        if wanted(held[0]):
            yield held


async def _matching(
    loaders: Loaders, request: ListRequest, source: str, in_full: bool = False
) -> AsyncIterator[Any]:
    """Every matching record of one source, a page at a time, in the upstream's order.

    Read lazily (a page only when the one before it is used up), unless `in_full`: the
    whole source is needed, so its pages are asked for ahead, all at once where the first
    page says how many there are, else `READ_AHEAD` at a time (the source's client bounds
    how many go out together)."""
    source_loaders = loaders.source(source)
    size = source_loaders.adapter.page_size
    query = request.query
    asked: dict[int, Future[Any]] = {}
    last: int | None = None

    def ask(number: int) -> None:
        if number not in asked and (last is None or number <= last):
            future = source_loaders.page.load((request.resource, query, number))
            future.add_done_callback(retrieved)  # one never reached fails silently
            asked[number] = future

    number = 0
    while True:
        key = (request.resource, query, number)
        page: Page[Any] = await (asked.pop(number) if number in asked
                                 else source_loaders.page.load(key))
        if number > 0:  # the first page stays for `totalCount`, which reads it again
            source_loaders.forget(key)
        if in_full and page.has_more:
            if number == 0 and page.total is not None:
                last = max(0, -(-page.total // size) - 1)
                for ahead in range(1, last + 1):
                    ask(ahead)
            else:
                for ahead in range(number + 1, number + 1 + READ_AHEAD):
                    ask(ahead)
        for record in page.items:
            if request.keeps(record):
                yield record
        if not page.has_more or not page.items:
            return
        number += 1
