"""Which invoices a list, a summary or an export covers: one filter, one selection function.

GraphQL's `invoices`, `invoiceSummary`, `aging` and the export (HTTP and CLI) all turn
their filter into a `ListRequest` here, so they select the same sources and records and
refuse the same bad input with the same message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, TypeVar

from gateway.adapters import Adapter, Capability
from gateway.adapters.base import read_all_pages
from gateway.domain.ids import decode_id
from gateway.domain.records import (
    InvoiceOrder,
    InvoiceQuery,
    InvoiceStatus,
    InvoiceType,
    parse_utc,
)
from gateway.errors import BadSelection, SourceForbidden, UpstreamError
from gateway.lists.paging import ListRequest, listing_sources

E = TypeVar("E", InvoiceStatus, InvoiceType)


@dataclass(frozen=True)
class InvoiceSelection:
    """The unified invoice filter as clients give it (source names, global ids)."""

    sources: Sequence[str] | None = None
    statuses: Iterable[InvoiceStatus] | None = None
    type: InvoiceType | None = None
    issued_from: date | None = None
    issued_to: date | None = None
    customer_id: str | None = None
    vendor_id: str | None = None
    due_from: date | None = None
    due_to: date | None = None
    updated_since: datetime | None = None
    number: str | None = None
    search: str | None = None
    overdue: bool | None = None
    currencies: Iterable[str] | None = None
    order: Sequence[InvoiceOrder] = ()


def invoice_request(
    adapters: Mapping[str, Adapter],
    where: InvoiceSelection,
    configured: Collection[str] = (),
) -> ListRequest:
    """The list of invoices `where` selects: listable sources in configuration order.

    `adapters` are the sources the caller may read; a name among the `configured` sources
    but not among those is `SourceForbidden`, any other unknown name `BadSelection`.
    """
    for name in where.sources or ():
        _check_source(adapters, configured, name)
    sources = listing_sources(adapters, Capability.LIST_INVOICES, where.sources)
    if where.issued_from and where.issued_to and where.issued_from > where.issued_to:
        raise BadSelection("filter.issuedFrom is after filter.issuedTo")
    if where.due_from and where.due_to and where.due_from > where.due_to:
        raise BadSelection("filter.dueFrom is after filter.dueTo")
    fields = [order.field for order in where.order]
    if len(set(fields)) != len(fields):
        raise BadSelection("orderBy names a field more than once")
    customer = decode_id(where.customer_id, "Customer") if where.customer_id else None
    vendor = decode_id(where.vendor_id, "Vendor") if where.vendor_id else None
    for party in (customer, vendor):
        if party is not None:
            if party.source in configured and party.source not in adapters:
                raise SourceForbidden(f"this client may not read source {party.source!r}")
            sources = tuple(name for name in sources if name == party.source)
    query = InvoiceQuery(
        statuses=frozenset(where.statuses) if where.statuses is not None else None,
        type=where.type,
        issued_from=where.issued_from,
        issued_to=where.issued_to,
        customer_id=customer.remote_id if customer else None,
        vendor_id=vendor.remote_id if vendor else None,
        due_from=where.due_from,
        due_to=where.due_to,
        updated_since=where.updated_since,
        number=where.number,
        # An empty search text is in every number: no filter at all.
        search=where.search or None,
        overdue=where.overdue,
        currencies=(frozenset(c.strip().upper() for c in where.currencies)
                    if where.currencies is not None else None),
        order=tuple(where.order),
    )
    return ListRequest("invoices", sources, query)


async def select_invoices(
    adapters: Mapping[str, Adapter],
    where: InvoiceSelection,
    configured: Collection[str] = (),
) -> ListRequest:
    """`invoice_request`, with a `search` text's party names looked up: the customers and
    vendors of each selected source that lists them are read (through the read cache) and
    those whose name contains the text go into the query (`InvoiceQuery.named_parties`).
    A source whose party list cannot be read is searched by the copies its invoices carry.
    Lists, totals, summaries, aging and the export all select through this."""
    request = invoice_request(adapters, where, configured)
    query = request.query
    if query is None or query.search is None:
        return request
    text = query.search.casefold()
    reads = [
        (name, kind, adapter)
        for name in request.sources
        for kind, capability in (("customer", Capability.LIST_CUSTOMERS),
                                 ("vendor", Capability.LIST_VENDORS))
        if capability in (adapter := adapters[name]).capabilities
    ]

    async def names(kind: str, adapter: Adapter) -> Sequence[Any] | None:
        lister = adapter.list_customers if kind == "customer" else adapter.list_vendors
        try:
            return await read_all_pages(lister)
        except UpstreamError:
            return None

    found = await asyncio.gather(*(names(kind, adapter) for _, kind, adapter in reads))
    listed: set[tuple[str, str]] = set()
    named: set[tuple[str, str, str]] = set()
    for (name, kind, _), parties in zip(reads, found, strict=True):
        if parties is None:
            continue
        listed.add((name, kind))
        named.update((name, kind, party.remote_id) for party in parties
                     if party.name and text in party.name.casefold())
    query = replace(query, named_parties=frozenset(named), listed_parties=frozenset(listed))
    return replace(request, query=query)


def _check_source(adapters: Mapping[str, Adapter], configured: Collection[str], name: str) -> None:
    if name in adapters:
        return
    if name in configured:
        raise SourceForbidden(f"this client may not read source {name!r}")
    known = ", ".join(adapters) or "none"  # an unknown name is bad input, not an empty list
    raise BadSelection(f"unknown source {name!r}; configured: {known}")


SELECTION_PARAMS = ("sources", "status", "type", "issuedFrom", "issuedTo", "customerId",
                    "vendorId", "dueFrom", "dueTo", "updatedSince", "number", "search",
                    "overdue", "currency")


def parse_selection(params: Mapping[str, Sequence[str]]) -> InvoiceSelection:
    """A selection from query parameters (the export's): lists comma-separated or repeated.

    `params` maps each parameter to all its values; unknown parameters are the caller's
    to refuse.
    """

    def values(name: str) -> list[str] | None:
        given = params.get(name)
        # A blank parameter (`sources=`, as a form submits an empty field) is not given: it
        # must not select nothing (an empty export) where it meant no filter.
        found = [part.strip() for value in given or () for part in value.split(",")
                 if part.strip()]
        return found or None

    def one(name: str) -> str | None:
        found = values(name)
        if found is not None and len(found) > 1:
            raise BadSelection(f"{name}: give one value, got {len(found)}")
        return found[0] if found else None

    def day(name: str) -> date | None:
        text = one(name)
        if text is None:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise BadSelection(f"{name}: {text!r} is not a date of the form YYYY-MM-DD") from None

    def moment(name: str) -> datetime | None:
        text = one(name)
        if text is None:
            return None
        try:
            return parse_utc(text)
        except ValueError:
            raise BadSelection(f"{name}: {text!r} is not an ISO 8601 date and time") from None

    def flag(name: str) -> bool | None:
        text = one(name)
        if text is None:
            return None
        if text.lower() not in ("true", "false"):
            raise BadSelection(f"{name}: {text!r} is not true or false")
        return text.lower() == "true"

    def text(name: str) -> str | None:
        # Taken whole: a number or a name may hold a comma.
        given = params.get(name)
        if not given:
            return None
        if len(given) > 1:
            raise BadSelection(f"{name}: give one value, got {len(given)}")
        return given[0]

    statuses = values("status")
    kind = one("type")
    return InvoiceSelection(
        sources=values("sources"),
        statuses=None if statuses is None else [_enum(InvoiceStatus, "status", s)
                                                for s in statuses],
        type=None if kind is None else _enum(InvoiceType, "type", kind),
        issued_from=day("issuedFrom"),
        issued_to=day("issuedTo"),
        customer_id=one("customerId"),
        vendor_id=one("vendorId"),
        due_from=day("dueFrom"),
        due_to=day("dueTo"),
        updated_since=moment("updatedSince"),
        number=text("number"),
        search=text("search"),
        overdue=flag("overdue"),
        currencies=values("currency"),
    )


def _enum(cls: type[E], name: str, text: str) -> E:
    try:
        return cls(text.upper())
    except ValueError:
        allowed = ", ".join(member.value for member in cls)
        raise BadSelection(f"{name}: {text!r} is not one of {allowed}") from None
