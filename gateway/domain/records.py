"""Unified domain objects: what every adapter returns, whatever its upstream's wire format.

Money is Decimal plus an ISO 4217 code, never a float; dates are `datetime.date`; times are
timezone-aware UTC. Nothing here knows about HTTP, strawberry or any one upstream.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import MISSING, dataclass, field, fields
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar, dataclass_transform

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


R = TypeVar("R")
_new = object.__new__


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: type[R]) -> type[R]:
    """A frozen dataclass whose `__init__` fills the instance in one step.

    The `__init__` that `dataclass(frozen=True)` writes sets each field through
    `object.__setattr__` (the class's own `__setattr__` refuses): for an invoice's 28 fields
    that is half the cost of building it, and adapters build every record of every page
    they read. This `__init__` takes the same parameters with the same defaults (a
    `default_factory` is called per instance) and updates the instance's `__dict__` once;
    everything else (frozenness, equality, hash, repr, `dataclasses.replace`) is the
    dataclass's own.
    """
    frozen = dataclass(frozen=True)(cls)
    names: dict[str, Any] = {"MISSING": MISSING}
    params: list[str] = []
    entries: list[str] = []
    for item in fields(frozen):  # type: ignore[arg-type]
        name = item.name
        if item.default is not MISSING:
            names[f"_default_{name}"] = item.default
            params.append(f"{name}=_default_{name}")
            entries.append(f"{name!r}: {name}")
        elif item.default_factory is not MISSING:
            names[f"_factory_{name}"] = item.default_factory
            params.append(f"{name}=MISSING")
            entries.append(f"{name!r}: _factory_{name}() if {name} is MISSING else {name}")
        else:
            params.append(name)
            entries.append(f"{name!r}: {name}")
    source = (f"def __init__(self, {', '.join(params)}):\n"
              f"    self.__dict__.update({{{', '.join(entries)}}})\n")
    namespace: dict[str, Any] = {}
    exec(source, names, namespace)  # as dataclasses itself builds __init__
    init = namespace["__init__"]
    init.__qualname__ = f"{frozen.__qualname__}.__init__"
    frozen.__init__ = init  # type: ignore[method-assign]
    return frozen


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


@record
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
        # the quantize of `of` would change nothing (this runs for every amount of a page,
        # hence also the two fields set directly, without `__init__`'s call).
        money = _new(cls)
        values = money.__dict__
        values["amount"] = Decimal(minor).scaleb(-_MINOR_DIGITS.get(code, 2))
        values["currency"] = code
        return money


@record
class Address:
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None


@record
class LineItem:
    id: str | None
    description: str | None
    sku: str | None = None
    quantity: Decimal | None = None
    unit_price: Money | None = None
    tax_rate: Decimal | None = None
    tax_amount: Money | None = None
    total: Money | None = None


@record
class Customer:
    source: str
    remote_id: str
    name: str | None
    email: str | None = None
    phone: str | None = None
    address: Address | None = None
    remote_data: JSONDict = field(default_factory=dict, compare=False, repr=False)


@record
class Vendor:
    source: str
    remote_id: str
    name: str | None
    email: str | None = None
    phone: str | None = None
    address: Address | None = None
    remote_data: JSONDict = field(default_factory=dict, compare=False, repr=False)


@record
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


@record
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


@dataclass(frozen=True)
class InvoiceQuery:
    """The unified invoice filter, in domain terms (remote ids, not global ids)."""

    statuses: frozenset[InvoiceStatus] | None = None
    type: InvoiceType | None = None
    issued_from: date | None = None
    issued_to: date | None = None
    customer_id: str | None = None
    vendor_id: str | None = None

    def matches(self, invoice: Invoice) -> bool:
        """Whether `invoice` passes every filter (the gateway's own check after pushdown)."""
        if self.statuses is not None and invoice.status not in self.statuses:
            return False
        if self.type is not None and invoice.type is not self.type:
            return False
        if self.issued_from is not None and (
            invoice.issue_date is None or invoice.issue_date < self.issued_from
        ):
            return False
        if self.issued_to is not None and (
            invoice.issue_date is None or invoice.issue_date > self.issued_to
        ):
            return False
        if self.customer_id is not None and invoice.customer_id != self.customer_id:
            return False
        return self.vendor_id is None or _vendor_id(invoice) == self.vendor_id

    @property
    def is_empty(self) -> bool:
        return self == InvoiceQuery()


def _vendor_id(invoice: Invoice) -> str | None:
    if invoice.vendor_id is not None:
        return invoice.vendor_id
    return invoice.vendor_snapshot.remote_id if invoice.vendor_snapshot else None
