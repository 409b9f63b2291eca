"""Cursor paging across sources (`gateway.lists.paging`), through its public functions over
real HTTP to the simulators: every record once in source order, stable cursors, the bounds
of `first`, `after` at or past the end, and cursor errors that name the cursor.

Elsewhere: paging the whole invoice list through GraphQL (tests/test_gateway_lists.py),
one failing source leaving the others' records (tests/test_gateway_faults.py), `pageInfo`
(tests/test_connections.py).
"""

from __future__ import annotations

import pytest

from gateway.adapters import Adapter, Capability
from gateway.domain.ids import Cursor
from gateway.domain.records import InvoiceQuery, InvoiceStatus
from gateway.errors import InvalidCursor, InvalidPaging
from gateway.lists.loaders import Loaders
from gateway.lists.paging import (
    DEFAULT_FIRST,
    MAX_FIRST,
    ListRequest,
    listing_sources,
    read_slice,
    total_count,
)
from tests.conftest import sim_control

KINDS = ("makini", "invoicematic", "cloudbilling")  # erp, billing, cloud: list on their own


@pytest.fixture
def adapters(make_adapter) -> dict[str, Adapter]:
    made = [make_adapter(kind) for kind in KINDS]
    return {adapter.name: adapter for adapter in made}


def invoices(adapters: dict[str, Adapter], query: InvoiceQuery | None = None) -> ListRequest:
    return ListRequest("invoices", tuple(adapters), query or InvoiceQuery())


async def page(adapters, request, first, after=None):
    """One slice, read with the loaders of a fresh request (as each GraphQL request does)."""
    return await read_slice(Loaders(adapters), adapters, request, first, after)


def keys(edges) -> list[tuple[str, str]]:
    return [(record.source, record.remote_id) for record, _ in edges]


async def everything(adapters, request, first: int) -> tuple[list, int]:
    """Every edge of the list, `first` at a time; and how many slices that took."""
    edges: list = []
    after, slices = None, 0
    while True:
        got = await page(adapters, request, first, after)
        slices += 1
        edges += got.edges
        assert not got.errors
        if not got.has_next:
            return edges, slices
        after = got.edges[-1][1]


async def test_paging_across_sources_yields_every_record_once_in_source_order(adapters):
    request = invoices(adapters)
    whole = await page(adapters, request, MAX_FIRST)
    assert not whole.has_next, "the seeded invoices fit in one page of 500"
    names = [record.source for record, _ in whole.edges]
    assert names == sorted(names, key=list(adapters).index), "sources in configuration order"
    assert set(names) == set(adapters)

    # 7 does not divide any source's count: slices straddle the boundaries between sources.
    paged, slices = await everything(adapters, request, 7)
    assert keys(paged) == keys(whole.edges)
    assert [cursor for _, cursor in paged] == [cursor for _, cursor in whole.edges]
    assert slices == -(-len(whole.edges) // 7)


async def test_a_cursor_resumes_the_same_list_in_a_later_request(adapters):
    request = invoices(adapters)
    first = await page(adapters, request, 10)
    again = await page(adapters, request, 10)
    assert first.edges and [c for _, c in first.edges] == [c for _, c in again.edges]

    middle = first.edges[4][1]
    resumed = await page(adapters, invoices(adapters), 5, middle)  # an equal request, rebuilt
    assert keys(resumed.edges) == keys(first.edges[5:10])


async def test_a_filtered_list_pages_through_matching_records_only(adapters):
    query = InvoiceQuery(statuses=frozenset({InvoiceStatus.PAID}))
    request = invoices(adapters, query)
    whole = await page(adapters, request, MAX_FIRST)
    assert whole.edges and all(r.status is InvoiceStatus.PAID for r, _ in whole.edges)
    paged, _ = await everything(adapters, request, 3)
    assert keys(paged) == keys(whole.edges)


async def test_first_defaults_to_50_and_must_be_within_0_and_500(adapters):
    request = invoices(adapters)
    assert len((await page(adapters, request, None)).edges) == DEFAULT_FIRST == 50
    empty = await page(adapters, request, 0)
    assert empty.edges == [] and empty.has_next
    assert len((await page(adapters, request, MAX_FIRST)).edges) <= 500
    for bad in (-1, MAX_FIRST + 1):
        with pytest.raises(InvalidPaging, match=f"'first' must be between 0 and 500, got {bad}"):
            await page(adapters, request, bad)


async def test_after_the_last_record_or_past_the_end_is_an_empty_last_page(adapters):
    request = invoices(adapters)
    whole = await page(adapters, request, MAX_FIRST)
    after_last = await page(adapters, request, 10, whole.edges[-1][1])
    assert after_last.edges == [] and not after_last.has_next and not after_last.errors

    exactly = await page(adapters, request, 5, whole.edges[-6][1])
    assert keys(exactly.edges) == keys(whole.edges[-5:])
    assert not exactly.has_next, "exactly `first` records were left: no next page"

    first_source, second_source, last_source = adapters
    beyond = Cursor(last_source, 10_000, request.fingerprint).encode()
    past = await page(adapters, request, 10, beyond)
    assert past.edges == [] and not past.has_next and not past.errors

    # Past the end of the first source: the list goes on with the next one.
    skip = Cursor(first_source, 10_000, request.fingerprint).encode()
    next_source = await page(adapters, request, 1, skip)
    assert [record.source for record, _ in next_source.edges] == [second_source]


async def test_a_bad_cursor_is_refused_naming_it(adapters):
    request = invoices(adapters)
    for garbage in ("bm9wZQ", "not a cursor at all", "x" * 2000):
        with pytest.raises(InvalidCursor) as refused:
            await page(adapters, request, 5, garbage)
        assert repr(garbage) in str(refused.value) and "is not a valid cursor" in str(refused.value)

    other = invoices(adapters, InvoiceQuery(statuses=frozenset({InvoiceStatus.PAID})))
    foreign = (await page(adapters, other, 1)).edges[0][1]
    with pytest.raises(InvalidCursor, match="belongs to a different list or filter") as refused:
        await page(adapters, request, 5, foreign)
    assert repr(foreign) in str(refused.value)

    first_source, *others = adapters
    fewer = ListRequest("invoices", tuple(others), InvoiceQuery())
    elsewhere = Cursor(first_source, 1, fewer.fingerprint).encode()
    with pytest.raises(InvalidCursor, match="names a source that is not in this list") as refused:
        await page(adapters, fewer, 5, elsewhere)
    assert repr(elsewhere) in str(refused.value)


async def test_the_filter_and_the_sources_define_the_list_a_cursor_belongs_to(adapters):
    # Statuses are a set: their order does not make another list (cursors stay valid).
    one = invoices(adapters, InvoiceQuery(statuses=frozenset({InvoiceStatus.PAID,
                                                               InvoiceStatus.OPEN})))
    two = invoices(adapters, InvoiceQuery(statuses=frozenset({InvoiceStatus.OPEN,
                                                               InvoiceStatus.PAID})))
    assert one.fingerprint == two.fingerprint
    assert one.fingerprint != invoices(adapters).fingerprint
    everything = invoices(adapters).fingerprint
    assert everything != ListRequest("invoices", tuple(adapters)[:2], InvoiceQuery()).fingerprint
    assert everything != ListRequest("customers", tuple(adapters), InvoiceQuery()).fingerprint


async def test_a_failing_source_is_reported_and_the_others_still_page(adapters, simulators):
    sim_control(simulators.running["invoicematic"], "POST", "/_sim/faults",
                {"mode": "500", "times": 1000, "path": "/invoices"})
    request = invoices(adapters)
    got = await page(adapters, request, MAX_FIRST)
    assert {record.source for record, _ in got.edges} == {"erp", "cloud"}
    (error,) = got.errors
    assert error.source == "billing"
    assert await total_count(Loaders(adapters), request) is None, "one source cannot say"


async def test_total_count_adds_up_the_sources(adapters):
    request = invoices(adapters)
    whole = await page(adapters, request, MAX_FIRST)
    assert await total_count(Loaders(adapters), request) == len(whole.edges)


def test_listing_sources_keeps_configuration_order_and_capability(adapters, make_adapter):
    everyone = {**adapters, "ap": make_adapter("makershub")}
    assert listing_sources(everyone, Capability.LIST_INVOICES) == ("erp", "billing", "cloud", "ap")
    assert listing_sources(everyone, Capability.LIST_INVOICES, ["ap", "erp"]) == ("erp", "ap")
    assert listing_sources(everyone, Capability.LIST_INVOICES, []) == ()
    payments = listing_sources(everyone, Capability.LIST_PAYMENTS)
    assert payments == tuple(name for name, adapter in everyone.items()
                             if Capability.LIST_PAYMENTS in adapter.capabilities)


# --- windows: a small page reads a small upstream page (Adapter.window_sizes) -----------

def recent(simulators, kind: str = "invoicematic") -> list[str]:
    """The simulator's requests since the counts were last zeroed, path and query."""
    listed: list[str] = sim_control(simulators.running[kind], "GET", "/_sim/requests")["recent"]
    return listed


def zero(simulators, kind: str = "invoicematic") -> None:
    sim_control(simulators.running[kind], "DELETE", "/_sim/requests")


@pytest.fixture
def billing(make_adapter) -> dict[str, Adapter]:
    adapter = make_adapter("invoicematic")
    return {adapter.name: adapter}


async def test_a_small_page_reads_the_window_that_holds_it(billing, simulators):
    request = invoices(billing)
    whole = await page(billing, request, MAX_FIRST)  # whole pages of 100 (first 500)
    assert len(whole.edges) > 60
    order = "orderByField=id&orderBy=asc"
    for offset, first, wanted in ((0, 10, "limit=10&page=1"), (30, 10, "limit=10&page=4"),
                                  (25, 25, "limit=25&page=2"), (33, 10, "limit=25&page=2"),
                                  (0, 50, "limit=50&page=1"), (50, 50, "limit=50&page=2")):
        zero(simulators)
        after = whole.edges[offset - 1][1] if offset else None
        got = await page(billing, request, first, after)
        assert keys(got.edges) == keys(whole.edges[offset:offset + first]), (offset, first)
        assert [c for _, c in got.edges] == [c for _, c in whole.edges[offset:offset + first]]
        assert got.has_next is (offset + first < len(whole.edges))
        # One read, of the window alone: the upstream's page count says a next one exists.
        # ((0, 50) is the peer benchmark's query: `Simulators.PEER_CALLS` is this read.)
        assert recent(simulators) == [f"GET /api/v1/api/invoices?{wanted}&{order}"]


async def test_the_last_window_of_a_list_has_no_next_page(billing, simulators):
    request = invoices(billing)
    whole = await page(billing, request, MAX_FIRST)
    total = len(whole.edges)
    last_ten = await page(billing, request, 10, whole.edges[total - 11][1])
    assert keys(last_ten.edges) == keys(whole.edges[-10:])
    assert not last_ten.has_next
    # totalCount reads the total off the window the slice read: no second read.
    loaders = Loaders(billing)
    zero(simulators)
    got = await read_slice(loaders, billing, request, 10, None)
    assert await total_count(loaders, request) == total and got.has_next
    assert len(recent(simulators)) == 1


async def test_a_list_the_gateway_filters_itself_reads_whole_pages(billing, simulators):
    # A status the upstream cannot select exactly: small windows would mean a round trip
    # for every few matches, so the gateway reads pages of 100.
    query = InvoiceQuery(statuses=frozenset({InvoiceStatus.PAID}))
    zero(simulators)
    got = await page(billing, invoices(billing, query), 5)
    assert got.edges
    assert all("limit=100&" in line for line in recent(simulators))


async def test_windows_off_reads_whole_pages_with_the_same_answers(billing, make_adapter,
                                                                   simulators):
    plain = make_adapter("invoicematic")
    plain.window_sizes = ()
    plain_adapters = {plain.name: plain}
    request, plain_request = invoices(billing), invoices(plain_adapters)
    windowed, _ = await everything(billing, request, 10)
    zero(simulators)
    whole, _ = await everything(plain_adapters, plain_request, 10)
    assert keys(windowed) == keys(whole)
    assert [c for _, c in windowed] == [c for _, c in whole]
    assert all("limit=100&" in line for line in recent(simulators))


@pytest.mark.parametrize(("kind", "window"), [("cloudbilling", "?limit=10&offset=30"),
                                              ("makini", "?page=4&per_page=10&")])
async def test_the_other_kinds_that_page_by_any_size_read_windows(make_adapter, simulators,
                                                                  kind, window):
    adapter = make_adapter(kind)
    one = {adapter.name: adapter}
    request = invoices(one)
    whole = await page(one, request, MAX_FIRST)
    zero(simulators, kind)
    got = await page(one, request, 10, whole.edges[29][1])
    assert keys(got.edges) == keys(whole.edges[30:40]) and got.has_next
    [line] = recent(simulators, kind)
    assert window in line, line


async def test_a_makini_status_filter_reads_whole_pages(make_adapter, simulators):
    # Whether a status filter is exact needs Makini's status table: whole pages, as before.
    adapter = make_adapter("makini")
    erp = {adapter.name: adapter}
    zero(simulators, "makini")
    await page(erp, invoices(erp, InvoiceQuery(statuses=frozenset({InvoiceStatus.PAID}))), 5)
    lists = [line for line in recent(simulators, "makini") if "/invoices" in line]
    assert lists and all("per_page=100&" in line for line in lists)


async def test_a_search_ending_with_a_full_page_does_not_claim_a_next_page(
    make_adapter, fresh_simulators
):
    # The upstream counts every customer, the gateway's search keeps a few: a page of the
    # upstream saying that more follow says nothing of more matches.
    store = fresh_simulators.running["invoicematic"].simulator.store
    template = next(iter(store.customers.values()))
    first_id = max(store.customers) + 1
    for number in range(120):  # past the first upstream page of 100
        store.customers[first_id + number] = {
            **template, "id": first_id + number, "name": f"Filler {number}",
            "email": f"filler{number}@example.com"}
    adapter = make_adapter("invoicematic")
    billing = {adapter.name: adapter}
    name = store.customers[min(store.customers)]["name"]
    request = ListRequest("customers", tuple(billing), None, search=name)
    got = await page(billing, request, 1)
    assert [record.name for record, _ in got.edges] == [name]
    assert not got.has_next, "no other customer matches"
