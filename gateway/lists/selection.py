"""Which invoices a list, a summary or an export covers: one filter, one selection function.

GraphQL's `invoices`, `invoiceSummary`, `aging` and the export (HTTP and CLI) all turn
their filter into a `ListRequest` here, so they select the same sources and records and
refuse the same bad input with the same message.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

from gateway.adapters import Adapter, Capability
from gateway.domain.ids import decode_id
from gateway.domain.records import InvoiceQuery, InvoiceStatus, InvoiceType
from gateway.errors import BadSelection, SourceForbidden
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
    )
    return ListRequest("invoices", sources, query)


def _check_source(adapters: Mapping[str, Adapter], configured: Collection[str], name: str) -> None:
    if name in adapters:
        return
    if name in configured:
        raise SourceForbidden(f"this client may not read source {name!r}")
    known = ", ".join(adapters) or "none"  # an unknown name is bad input, not an empty list
    raise BadSelection(f"unknown source {name!r}; configured: {known}")


SELECTION_PARAMS = ("sources", "status", "type", "issuedFrom", "issuedTo", "customerId",
                    "vendorId")


def parse_selection(params: Mapping[str, Sequence[str]]) -> InvoiceSelection:
    """A selection from query parameters (the export's): lists comma-separated or repeated.

    `params` maps each parameter to all its values; unknown parameters are the caller's
    to refuse.
    """

    def values(name: str) -> list[str] | None:
        given = params.get(name)
        if not given:
            return None
        return [part.strip() for value in given for part in value.split(",") if part.strip()]

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
    )


def _enum(cls: type[E], name: str, text: str) -> E:
    try:
        return cls(text.upper())
    except ValueError:
        allowed = ", ".join(member.value for member in cls)
        raise BadSelection(f"{name}: {text!r} is not one of {allowed}") from None
