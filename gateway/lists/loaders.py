"""Per-request DataLoaders: within one request no upstream record is fetched twice.

One `Loaders` per request (made in the request context, never at module level: a module-level
loader would be a cache shared across callers). Keys are remote ids within one source;
batches fan out through the adapter's bounded concurrent reads. Records served from list
pages are primed into the by-id loaders (`prime`, as the pager takes them), so a later lookup
of the same record is free; the records of a page that nothing served stay unnormalized.
"""

from __future__ import annotations

import asyncio
from asyncio import Future
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from aiodataloader import DataLoader

from gateway.adapters import Adapter, Page
from gateway.domain.records import Customer, Invoice, InvoiceQuery, Payment, Vendor
from gateway.errors import UpstreamError
from gateway.support.shared import SharedCall

T = TypeVar("T")
# A page loader key: (resource, query, page number) for a whole page of the adapter's
# `page_size`, or with a fourth item, one of its `window_sizes`, for a window.
PageKey = tuple[str, Hashable, int] | tuple[str, Hashable, int, int]


class _Loader(DataLoader[Any, T], Generic[T]):
    """An aiodataloader DataLoader over a batch function returning values or errors."""

    def __init__(
        self,
        batch: Callable[[Sequence[Any]], Awaitable[Sequence[T | Exception]]],
        *,
        batching: bool = True,
    ) -> None:
        super().__init__(batch=batching)
        self._batch = batch

    async def batch_load_fn(self, keys: list[Any]) -> list[T]:
        # aiodataloader rejects the load of each key whose result is an Exception
        return list(await self._batch(keys))  # type: ignore[arg-type]

    def ready(self, key: Any) -> Future[T] | None:
        """The key's settled future when this request already holds its value (primed or
        loaded), else None: a resolver can then answer without an awaitable, which spares
        the executor a coroutine and a gather per field on big pages."""
        future: Future[T] | None = self._cache.get(self.get_cache_key(key))
        if future is None or not future.done() or future.cancelled() or future.exception():
            return None
        return future


class SourceLoaders:
    """The loaders of one source, for one request."""

    def __init__(self, adapter: Adapter) -> None:
        self.adapter = adapter
        self.invoice: _Loader[Invoice] = _Loader(adapter.get_invoices)
        self.customer: _Loader[Customer] = _Loader(adapter.get_customers)
        self.vendor: _Loader[Vendor] = _Loader(adapter.get_vendors)
        self.payment: _Loader[Payment] = _Loader(adapter.get_payments)
        self.invoice_payments: _Loader[Sequence[Payment]] = _Loader(self._payments_of)
        # Pages are read one key at a time (no upstream reads several pages at once), so the
        # page loader does not wait for a batch: aiodataloader's batching defers a load by
        # several event-loop turns, during which the customer read alongside the page used
        # to go out first and delay the page's request by ~0.6 ms (docs/performance.md).
        # Loads of the same page in one request still share one read (the loader's cache).
        self.page: _Loader[Page[Any]] = _Loader(self._pages, batching=False)
        # The key of the page a slice read first, by (resource, query): `total_count` reads
        # the total off it rather than reading the first page as well.
        self.first_pages: dict[tuple[str, Hashable], PageKey] = {}
        self._all_customers: SharedCall[None] | None = None
        self._primers: dict[str, _Loader[Any]] = {
            "invoices": self.invoice, "customers": self.customer,
            "vendors": self.vendor, "payments": self.payment,
        }

    def prime(self, resource: str, record: Any) -> None:
        """Hold `record` (taken from a list page of `resource`) for lookups by its id."""
        self._primers[resource].prime(record.remote_id, record)

    async def prefetch_customers(self) -> None:
        """Read the whole customer list where one read gives it (once per request) and
        prime the customer loader with it, so that an invoice page's customers need no
        read after the page. A failure is left to the loader's own read to report.

        The read runs as its own task (`gateway.support.shared`), which every list of the request
        joins: a list that is cancelled stops only its own waiting."""
        call = self._all_customers
        if call is None or call.abandoned:
            call = self._all_customers = SharedCall(self._read_all_customers())
        await call.wait()

    async def _read_all_customers(self) -> None:
        try:
            customers = await self.adapter.all_customers()
        except UpstreamError:
            return
        for customer in customers or ():
            self.customer.prime(customer.remote_id, customer)

    async def _payments_of(self, invoice_ids: Sequence[str]) -> list[Sequence[Payment]]:
        by_invoice: Mapping[str, Sequence[Payment]] = await self.adapter.payments_for_invoices(
            invoice_ids
        )
        payments = [by_invoice.get(invoice_id, ()) for invoice_id in invoice_ids]
        for group in payments:
            for payment in group:
                self.payment.prime(payment.remote_id, payment)
        return payments

    async def _pages(self, keys: Sequence[PageKey]) -> list[Any]:
        if len(keys) == 1:
            return [await self._page(keys[0])]
        return list(await asyncio.gather(*(self._page(key) for key in keys)))

    async def _page(self, key: PageKey) -> Page[Any] | UpstreamError:
        resource, query, page, *window = key
        adapter = self.adapter
        try:
            if resource == "invoices":
                assert isinstance(query, InvoiceQuery)
                result: Page[Any] = await (
                    adapter.list_invoices(query, page, window[0]) if window
                    else adapter.list_invoices(query, page))
            elif resource == "customers":
                result = await adapter.list_customers(page)
            elif resource == "vendors":
                result = await adapter.list_vendors(page)
            else:
                result = await adapter.list_payments(page)
        except UpstreamError as exc:
            return exc
        # Not primed here: that would normalize every record of the page (`Page.lazy`).
        return result

    def release(self) -> None:
        """Drop every record and page these loaders hold (the request has ended)."""
        for loader in (self.invoice, self.customer, self.vendor, self.payment,
                       self.invoice_payments, self.page):
            loader.clear_all()
        self._all_customers = None
        self.first_pages.clear()

    def forget(self, key: PageKey) -> None:
        """Drop a page: a walk over a whole list (summaries, exports) reads each page once,
        and keeping them all would hold the whole list. A walk primes nothing."""
        self.page.clear(key)


class Loaders:
    """All loaders of one request, by source name."""

    def __init__(self, adapters: Mapping[str, Adapter]) -> None:
        self._adapters = adapters
        self._by_source: dict[str, SourceLoaders] = {}

    def release(self) -> None:
        """At the request's end: drop what its loaders hold. The loaders refer to themselves
        (their batch functions are their own methods), so without this every record a
        request read would wait for a garbage collection, and a busy process's collections
        would grow with every request in between."""
        for loaders in self._by_source.values():
            loaders.release()
        self._by_source.clear()

    def source(self, name: str) -> SourceLoaders:
        loaders = self._by_source.get(name)
        if loaders is None:
            loaders = self._by_source[name] = SourceLoaders(self._adapters[name])
        return loaders
