"""Cursor paging across sources.

The unified list is every listable source in configuration order, each in its adapter's
stable order. A cursor is the position just after a record in its source's (pushed-down)
upstream list, so paging to the end yields every matching record exactly once, even when
the gateway filters part of the query itself. Pages are read through the per-request page
loader (and the process-wide read cache), aligned to the adapter's fixed page size; a
slice's first read of a source whose upstream filters the query whole and takes smaller
pages (`Adapter.window_sizes`) is the smallest such window that holds the records it
serves (`first_read`): 10 invoices take a read of 10, not of 100. Whether a next page
exists is then told by the upstream's page (`has_more` on a list it filters whole), not by
reading one record more.

The first page of every source a slice may reach is asked for at once: those reads run in
parallel within the request's one deadline, so several slow or hanging sources cost one
timeout rather than one each (issue 19 item 10), and a page drawing on several sources
waits for one round trip instead of one per source.
"""

from __future__ import annotations

import asyncio
from asyncio import Future
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.adapters import Adapter, Page
from gateway.domain.ids import Cursor, decode_cursor, fingerprint
from gateway.domain.records import InvoiceQuery
from gateway.errors import InvalidCursor, InvalidPaging, UpstreamError
from gateway.lists.loaders import Loaders, PageKey
from gateway.upstream.scope import mark_bulk

DEFAULT_FIRST = 50
MAX_FIRST = 500


@dataclass(frozen=True)
class ListRequest:
    """What defines one unified list: the resource, the sources in order, the filter."""

    resource: str
    sources: tuple[str, ...]
    query: InvoiceQuery | None = None
    # Customers and vendors: text found, ignoring case, in the name or the email.
    search: str | None = None

    @property
    def fingerprint(self) -> str:
        if self.search is not None:
            return fingerprint(self.resource, self.sources, canonical(self.query),
                               self.search.casefold())
        return fingerprint(self.resource, self.sources, canonical(self.query))

    def matches_only(self, page: Page[Any]) -> bool:
        """Whether every record of an upstream page of this list matches it (the upstream
        filtered the whole query: `Page.total`, and no search of the gateway's own), so
        that the page's `has_more` says that a further match exists."""
        return self.search is None and page.total is not None

    def keeps(self, record: Any) -> bool:
        """Whether a record of an upstream page belongs to this list (the gateway's own
        check of what was pushed down, and of what could not be)."""
        if self.query is not None and not self.query.matches(record):
            return False
        if self.search is None:
            return True
        text = self.search.casefold()
        return any(text in value.casefold() for value in (record.name, record.email) if value)


def canonical(query: InvoiceQuery | None) -> str:
    """A stable text form of a filter (sets sorted), independent of hash seeds."""
    if query is None:
        return ""
    statuses = sorted(s.value for s in query.statuses) if query.statuses is not None else None
    text = repr((statuses, query.type and query.type.value, str(query.issued_from),
                 str(query.issued_to), query.customer_id, query.vendor_id))
    currencies = sorted(query.currencies) if query.currencies is not None else None
    more = (str(query.due_from), str(query.due_to), str(query.updated_since), query.number,
            query.search, query.overdue, currencies,
            [(o.field.value, o.direction.value) for o in query.order])
    # The filters and orders of v3 join the text only when given, so that a cursor of a
    # list without them stays what it was.
    if more != ("None", "None", "None", None, None, None, None, []):
        text += repr(more)
    return text


@dataclass
class Slice:
    """One page of a unified list: (record, cursor) pairs plus what failed on the way."""

    edges: list[tuple[Any, str]]
    has_next: bool
    errors: list[UpstreamError] = field(default_factory=list)


async def read_slice(
    loaders: Loaders,
    adapters: Mapping[str, Adapter],
    request: ListRequest,
    first: int | None,
    after: str | None,
    serve: Callable[[Any], object] | None = None,
) -> Slice:
    """Up to `first` records after the cursor `after`, across the request's sources.

    `serve` is called with each record as it is taken, to read the parts of it that are
    normalized lazily and will be served (an invoice's lines): a part that breaks its
    wire contract fails the source at that record, as a broken record does.
    """
    limit = DEFAULT_FIRST if first is None else first
    if not 0 <= limit <= MAX_FIRST:
        raise InvalidPaging(f"'first' must be between 0 and {MAX_FIRST}, got {limit}")
    start_index, start_offset = 0, 0
    if after is not None:
        cursor = decode_cursor(after, request.fingerprint)
        if cursor.source not in request.sources:
            raise InvalidCursor(f"cursor {after!r} names a source that is not in this list")
        start_index, start_offset = request.sources.index(cursor.source), cursor.offset
    found: list[tuple[Any, str]] = []
    errors: list[UpstreamError] = []
    want = limit + 1  # one more than asked, to know whether a next page exists
    # Each source the slice may reach, from where it starts, and the page it reads first.
    starts: list[tuple[str, int, PageKey]] = []
    for index, name in enumerate(request.sources[start_index:]):
        offset = start_offset if index == 0 else 0
        starts.append((name, offset, first_read(adapters[name], request, offset, limit)))
    if limit > 0:
        _start_first_pages(loaders, request, starts)
    more = False  # a source's page says that a further match exists
    for name, offset, key in starts:
        if len(found) >= want or more:
            break
        try:
            more = await _scan(loaders, adapters[name], request, name, offset, want, found,
                               serve, key)
        except UpstreamError as exc:
            errors.append(exc)
    return Slice(found[:limit], more or len(found) > limit, errors)


def _start_first_pages(
    loaders: Loaders, request: ListRequest, starts: Sequence[tuple[str, int, PageKey]]
) -> None:
    """Ask for the first page each source of the slice would read, all at once (the page
    loader sends a read as soon as it is asked for; `_scan` then joins it)."""
    for name, _, key in starts:
        source_loaders = loaders.source(name)
        source_loaders.first_pages[request.resource, request.query] = key
        future = source_loaders.page.load(key)
        future.add_done_callback(retrieved)  # a page no scan reaches fails silently


def first_read(adapter: Adapter, request: ListRequest, offset: int, count: int) -> PageKey:
    """The page key of a slice's first read of one source, from record `offset` on, for a
    slice serving `count` records: the smallest of the adapter's windows that holds them
    all, aligned to its size, where the upstream filters the query whole; else the page
    of `page_size` that holds `offset`."""
    query = request.query
    if (adapter.window_sizes and request.resource == "invoices" and query is not None
            and request.search is None and adapter.lists_exactly(query)):
        last = offset + max(count, 1) - 1
        for size in adapter.window_sizes:
            if offset // size == last // size:
                return (request.resource, query, offset // size, size)
    return (request.resource, query, offset // adapter.page_size)


def retrieved(future: Future[Any]) -> None:
    """A done-callback for a page read ahead: its failure counts as seen (asyncio would
    log "exception was never retrieved" for a page no reader reached)."""
    if not future.cancelled():
        future.exception()


async def _scan(
    loaders: Loaders,
    adapter: Adapter,
    request: ListRequest,
    name: str,
    offset: int,
    want: int,
    found: list[tuple[Any, str]],
    serve: Callable[[Any], object] | None,
    key: PageKey,
) -> bool:
    """Take this source's matches from `offset` on into `found` until it holds `want`,
    reading `key` first, then whole pages. True when `found` lacks only its one record past
    the slice and a page of a list the upstream filters whole says that more follow."""
    fp = request.fingerprint
    source_loaders = loaders.source(name)
    while len(found) < want:
        page: Page[Any] = await source_loaders.page.load(key)
        size = key[3] if len(key) == 4 else adapter.page_size
        base = key[2] * size
        # Reading a record normalizes it (`Page.lazy`): only those up to the last one taken
        # are read, and a record that breaks the wire contract fails the source here.
        for position in range(offset - base, len(page.items)):
            record = page.items[position]
            if request.keeps(record):
                if serve is not None and len(found) + 1 < want:  # not the one past `first`
                    serve(record)
                found.append((record, Cursor(name, base + position + 1, fp).encode()))
                source_loaders.prime(request.resource, record)
                if len(found) >= want:
                    return False
        if not page.has_more or not page.items:
            return False
        if len(found) == want - 1 and request.matches_only(page):
            return True  # the next record of the list is a match
        offset = base + size
        key = (request.resource, request.query, offset // adapter.page_size)
    return False


async def total_count(loaders: Loaders, request: ListRequest) -> int | None:
    """The number of records in the whole list, or None where a source cannot say."""
    if request.search is not None:
        return None  # the gateway filters: no upstream total counts the matches

    def any_page(name: str) -> PageKey:
        # Every page of a list carries the same total: the one the slice read first will do.
        source_loaders = loaders.source(name)
        return source_loaders.first_pages.get((request.resource, request.query),
                                              (request.resource, request.query, 0))

    pages = await asyncio.gather(
        *(loaders.source(name).page.load(any_page(name)) for name in request.sources),
        return_exceptions=True,
    )
    total = 0
    for page in pages:
        if isinstance(page, UpstreamError):
            return None
        if isinstance(page, BaseException):
            raise page
        if page.total is None:
            return None
        total += page.total
    return total


@dataclass
class Chunk:
    """One upstream page of a walk: the matching records of source `source`, or its error.

    `total` is the source's number of matching records where the upstream says (on the
    first chunk of each source only)."""

    source: str
    records: list[Any]
    error: UpstreamError | None = None
    total: int | None = None


async def walk(loaders: Loaders, request: ListRequest, source: str) -> AsyncIterator[Chunk]:
    """Every matching record of one source of a list, a page at a time, in list order.

    The same pages (page loader, read cache, pushed-down filter, the gateway's own check)
    that `read_slice` pages through; each page is forgotten once yielded, so a walk over a
    whole list holds one page at a time (the request is marked bulk, so the read cache keeps
    none of them either). A failure ends the walk with a chunk carrying it.
    """
    mark_bulk()
    source_loaders = loaders.source(source)
    query = request.query
    number = 0
    while True:
        key = (request.resource, query, number)
        try:
            page: Page[Any] = await source_loaders.page.load(key)
        except UpstreamError as exc:
            yield Chunk(source, [], error=exc)
            return
        source_loaders.forget(key)
        try:
            records = [r for r in page.items if request.keeps(r)]
        except UpstreamError as exc:  # a record breaking the wire contract (`Page.lazy`)
            yield Chunk(source, [], error=exc)
            return
        yield Chunk(source, records, total=page.total if number == 0 else None)
        if not page.has_more or not page.items:
            return
        number += 1


def listing_sources(
    adapters: Mapping[str, Adapter], capability: str, wanted: Sequence[str] | None = None
) -> tuple[str, ...]:
    """The sources, in configuration order, that can list a resource (and were asked for)."""
    names = [name for name, adapter in adapters.items() if capability in adapter.capabilities]
    if wanted is None:
        return tuple(names)
    asked = set(wanted)
    return tuple(name for name in names if name in asked)
