"""Normalized domain objects are reused only while the read cache returns the same reply."""

from __future__ import annotations

import asyncio
from datetime import date

from gateway.adapters.base import NormalizedCache
from gateway.domain.records import InvoiceQuery
from tests.conftest import request_counts, zero_counts

ALL = InvoiceQuery()


async def test_cached_reads_reuse_normalized_records(make_adapter, simulators):
    adapter = make_adapter("invoicematic", cache_ttl=60)
    first = await adapter.list_invoices(ALL, 0)
    zero_counts(simulators)
    again = await adapter.list_invoices(ALL, 0)
    assert again is first and adapter.normalized.hits == 1
    customers = await adapter.get_customers([i.customer_id for i in first.items[:10]])
    assert await adapter.get_customers([i.customer_id for i in first.items[:10]]) == customers
    assert sum(request_counts(simulators)["invoicematic"].values()) == 1  # customers, once


async def test_a_dropped_cache_is_normalized_afresh(make_adapter):
    adapter = make_adapter("invoicematic", cache_ttl=60)
    first = await adapter.list_invoices(ALL, 0)
    adapter.client.cache.clear()  # as a write or a webhook does
    fresh = await adapter.list_invoices(ALL, 0)
    assert fresh is not first and fresh == first


async def test_cache_off_normalizes_every_reply(make_adapter):
    adapter = make_adapter("invoicematic", cache_ttl=0)
    assert await adapter.list_invoices(ALL, 0) is not await adapter.list_invoices(ALL, 0)
    assert adapter.normalized.hits == 0


async def test_cache_off_reads_shared_in_flight_share_one_normalization(make_adapter,
                                                                         simulators):
    adapter = make_adapter("invoicematic", cache_ttl=0)
    zero_counts(simulators)
    pages = await asyncio.gather(*(adapter.list_invoices(ALL, 0) for _ in range(5)))
    assert request_counts(simulators)["invoicematic"] == {"GET /api/invoices": 1}
    assert all(page is pages[0] for page in pages) and adapter.in_flight.coalesced == 4


async def test_same_request_normalized_differently_is_kept_apart(make_adapter):
    # One date bound is not pushed down (the API filters dates only with both), so the
    # request is the same as the unfiltered one, but the total is not reported.
    adapter = make_adapter("invoicematic", cache_ttl=60)
    exact = await adapter.list_invoices(ALL, 0)
    partial = await adapter.list_invoices(InvoiceQuery(issued_from=date(2020, 1, 1)), 0)
    assert exact.total is not None and partial.total is None
    assert (await adapter.list_invoices(ALL, 0)).total == exact.total


def test_entry_is_bound_to_the_reply_object():
    cache = NormalizedCache(maxsize=2)
    reply = {"n": 1}
    made = cache.get("k", reply, lambda body: [body["n"]])
    assert cache.get("k", reply, lambda body: ["again"]) is made
    assert cache.get("k", {"n": 1}, lambda body: ["new reply"]) == ["new reply"]


async def test_other_sources_reuse_normalized_customer_pages(make_adapter):
    for kind in ("makini", "cloudbilling"):
        adapter = make_adapter(kind, cache_ttl=60)
        first = await adapter.list_customers(0)
        assert first.items and await adapter.list_customers(0) is first
