"""Unified domain objects: what every adapter returns, whatever its upstream's wire format.

Money is Decimal plus an ISO 4217 code, never a float; dates are `datetime.date`; times are
timezone-aware UTC. Nothing here knows about HTTP, strawberry or any one upstream.

Records are plain frozen, slotted dataclasses: built by the dataclass's own `__init__`
(`__post_init__` and all), without a per-instance `__dict__` (a page of invoices holds
thousands of them). resolvers/types.py `view` copies their fields by name into the GraphQL
objects.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

JSONDict = dict[str, Any]

# ISO 4217 minor units for the currencies that do not use two.
_MINOR_DIGITS = {
    "JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "HUF": 2,
    "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3, "IQD": 3, "LYD": 3,
}


# ISO 4217 active codes (2024 list), for refusing an unknown currency before any request.
_ISO_4217_CODES = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL
BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP
ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR
IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL
LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR
NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD
SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX
USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
"""
ISO_4217 = frozenset(_ISO_4217_CODES.split())


def parse_utc(text: str) -> datetime:
    """An ISO 8601 timestamp as an aware UTC datetime; one without an offset is read as UTC.

    Raises ValueError when `text` is not ISO 8601.
    """
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def minor_digits(currency: str) -> int:
    """How many digits after the decimal point `currency` uses (ISO 4217)."""
    return _MINOR_DIGITS.get(currency.upper(), 2)


class InvoiceStatus(enum.Enum):
    DRAFT = "DRAFT"
    SUBMITTED = "SUBMITTED"
    OPEN = "OPEN"
    PARTIALLY_PAID = "PARTIALLY_PAID"
    PAID = "PAID"
    VOID = "VOID"
    UNKNOWN = "UNKNOWN"


class InvoiceType(enum.Enum):
    RECEIVABLE = "RECEIVABLE"
    PAYABLE = "PAYABLE"


class ApprovalStatus(enum.Enum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in major units of `currency`, quantized to the currency's minor digits."""

    amount: Decimal
    currency: str

    @classmethod
    def of(cls, amount: Decimal | int | str, currency: str) -> Money:
        """Build from a Decimal, an int or a decimal string (never a float)."""
        if isinstance(amount, float):  # pragma: no cover - guarded by type hints too
            raise TypeError("money never passes through a float")
        value = Decimal(amount)
        exponent = Decimal(1).scaleb(-minor_digits(currency))
        return cls(value.quantize(exponent, rounding=ROUND_HALF_UP), currency.upper())

    @classmethod
    def from_minor(cls, minor: int, currency: str) -> Money:
        """Build from an integer count of minor units (cents)."""
        code = currency.upper()
        # An integer scaled by the currency's digits already has exactly those digits, so
        # the quantize of `of` would change nothing (this runs for every amount of a page).
        return cls(Decimal(minor).scaleb(-_MINOR_DIGITS.get(code, 2)), code)


@dataclass(frozen=True, slots=True)
class Address:
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None


@dataclass(frozen=True, slots=True)
class LineItem:
    id: str | None
    description: str | None
    sku: str | None = None
    quantity: Decimal | None = None
    unit_price: Money | None = None
    tax_rate: Decimal | None = None
    tax_amount: Money | None = None
    total: Money | None = None


@dataclass(frozen=True, slots=True)
class Customer:
    source: str
    remote_id: str
    name: str | None
    email: str | None = None
    phone: str | None = None
    address: Address | None = None
    remote_data: JSONDict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Vendor:
    source: str
    remote_id: str
    name: str | None
    email: str | None = None
    phone: str | None = None
    address: Address | None = None
    remote_data: JSONDict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Payment:
    source: str
    remote_id: str
    number: str | None
    date: date | None
    amount: Money | None
    method: str | None = None
    invoice_id: str | None = None
    customer_id: str | None = None
    remote_data: JSONDict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Invoice:
    """One invoice of either direction, normalized.

    `customer_id` / `vendor_id` are remote ids within the same source. Where the upstream
    embeds the party instead of offering an endpoint for it (MakersHub's `supplier_info`),
    the adapter puts the whole record in `vendor_snapshot` / `customer_snapshot`.
    `grouped` holds the child invoices of a grouped (combined) invoice. `line_items` is a
    tuple, or a `LazyTuple` that normalizes the upstream's lines when first read (many
    queries never select them); either compares, hashes and iterates as the tuple.
    """

    source: str
    remote_id: str
    type: InvoiceType
    number: str | None
    status: InvoiceStatus
    status_raw: str | None
    currency: str
    issue_date: date | None = None
    due_date: date | None = None
    approval_status: ApprovalStatus | None = None
    is_overdue: bool = False
    subtotal: Money | None = None
    tax_total: Money | None = None
    total: Money | None = None
    amount_due: Money | None = None
    customer_id: str | None = None
    vendor_id: str | None = None
    customer_snapshot: Customer | None = None
    vendor_snapshot: Vendor | None = None
    line_items: Sequence[LineItem] = ()
    grouped: tuple[Invoice, ...] = ()
    purchase_order_number: str | None = None
    terms: str | None = None
    tags: tuple[str, ...] = ()
    version: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    remote_data: JSONDict = field(default_factory=dict, compare=False, repr=False)


class OrderField(enum.Enum):
    ISSUE_DATE = "ISSUE_DATE"
    DUE_DATE = "DUE_DATE"
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"
    NUMBER = "NUMBER"


class OrderDirection(enum.Enum):
    ASC = "ASC"
    DESC = "DESC"


@dataclass(frozen=True)
class InvoiceOrder:
    field: OrderField
    direction: OrderDirection = OrderDirection.ASC

    @property
    def descending(self) -> bool:
        return self.direction is OrderDirection.DESC


# The filters added by the v3 contract, which the adapters push down one by one (or not).
LATER_FILTERS = ("due_from", "due_to", "updated_since", "number", "search", "overdue",
                 "currencies")


@dataclass(frozen=True)
class InvoiceQuery:
    """The unified invoice filter, in domain terms (remote ids, not global ids), and the
    order an ordered list asks for (`order`, empty for today's source order).

    `search` matches the number and the names of the invoice's parties: the names of the
    parties a source lists are looked up before the list is read (`gateway.lists.selection`)
    and arrive here as `named_parties` ((source, "customer" | "vendor", remote id) whose name
    matches) for the `listed_parties` ((source, party kind)) whose lists were read; any
    other party is judged by the copy the invoice carries (its snapshot)."""

    statuses: frozenset[InvoiceStatus] | None = None
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
    currencies: frozenset[str] | None = None
    named_parties: frozenset[tuple[str, str, str]] = frozenset()
    listed_parties: frozenset[tuple[str, str]] = frozenset()
    order: tuple[InvoiceOrder, ...] = ()

    def matches(self, invoice: Invoice) -> bool:
        """Whether `invoice` passes every filter (the gateway's own check after pushdown)."""
        if self.statuses is not None and invoice.status not in self.statuses:
            return False
        if self.type is not None and invoice.type is not self.type:
            return False
        if not _within(invoice.issue_date, self.issued_from, self.issued_to):
            return False
        if self.customer_id is not None and invoice.customer_id != self.customer_id:
            return False
        if self.vendor_id is not None and _vendor_id(invoice) != self.vendor_id:
            return False
        if not _within(invoice.due_date, self.due_from, self.due_to):
            return False
        if self.updated_since is not None and (
            invoice.updated_at is None or invoice.updated_at < self.updated_since
        ):
            return False
        if self.number is not None and (
            invoice.number is None or invoice.number.casefold() != self.number.casefold()
        ):
            return False
        if self.overdue is not None and invoice.is_overdue is not self.overdue:
            return False
        if self.currencies is not None and invoice.currency.upper() not in self.currencies:
            return False
        return self.search is None or self._found(invoice, self.search.casefold())

    def _found(self, invoice: Invoice, text: str) -> bool:
        if invoice.number is not None and text in invoice.number.casefold():
            return True
        for kind, remote_id, snapshot in (
            ("customer", invoice.customer_id, invoice.customer_snapshot),
            ("vendor", _vendor_id(invoice), invoice.vendor_snapshot),
        ):
            if (invoice.source, kind) in self.listed_parties:
                if remote_id is not None and (invoice.source, kind, remote_id) in (
                    self.named_parties
                ):
                    return True
            elif snapshot is not None and snapshot.name and text in snapshot.name.casefold():
                return True
        return False

    def filters_beyond(self, pushed: Collection[str] = ()) -> bool:
        """Whether a filter of v3 (`LATER_FILTERS`) other than those `pushed` down is given:
        the upstream's total then counts more than match."""
        return any(getattr(self, name) is not None for name in LATER_FILTERS
                   if name not in pushed)

    @property
    def is_empty(self) -> bool:
        return self == InvoiceQuery()


def _within(day: date | None, start: date | None, end: date | None) -> bool:
    if start is None and end is None:
        return True
    if day is None:
        return False
    return (start is None or day >= start) and (end is None or day <= end)


def _vendor_id(invoice: Invoice) -> str | None:
    if invoice.vendor_id is not None:
        return invoice.vendor_id
    return invoice.vendor_snapshot.remote_id if invoice.vendor_snapshot else None
