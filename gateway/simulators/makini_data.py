"""Seeded records for the Makini simulator, shaped as `docs/upstreams/makini.md` lists them.

Every record is a JSON-ready dict exactly as the API returns it: keys are 14-digit numeric
strings, money and quantities are decimal strings, times are ISO 8601 UTC timestamps.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from gateway.simulators.base import SIM_NOW

Record = dict[str, Any]

ORGANIZATION_KEY = "01000417388120"
LOCATION_KEYS = ("09000185755146", "09000318842017")

# The assumed status set of makini.md, plus `on_hold`: a code outside that set, so that the
# adapter's UNKNOWN mapping is exercised by a few invoices.
STATUS_CODES: tuple[tuple[str, str], ...] = (
    ("draft", "Draft"),
    ("submitted", "Submitted for approval"),
    ("open", "Open"),
    ("partially_paid", "Partially paid"),
    ("paid", "Paid"),
    ("cancelled", "Cancelled"),
    ("on_hold", "On hold"),
)

CURRENCIES: tuple[tuple[str, str], ...] = (
    ("USD", "US Dollar"),
    ("EUR", "Euro"),
    ("GBP", "Pound Sterling"),
    ("CAD", "Canadian Dollar"),
)

TAXES: tuple[tuple[str, str, str], ...] = (
    ("EXEMPT", "Tax exempt", "0.00"),
    ("ST-825", "Sales tax 8.25%", "8.25"),
    ("GST-5", "GST 5%", "5.00"),
    ("VAT-20", "VAT 20%", "20.00"),
)

CUSTOMER_NAMES = (
    "Northwind Traders",
    "Contoso Manufacturing",
    "Fabrikam Industries",
    "Adventure Works Cycles",
    "Blue Yonder Airlines",
    "Coho Vineyard",
    "Alpine Ski House",
    "Tailspin Toys",
    "Wide World Importers",
    "Litware Systems",
    "Proseware Inc.",
    "Lucerne Publishing",
    "Margie's Travel",
    "Trey Research",
    "Woodgrove Bank",
    "Humongous Insurance",
    "Graphic Design Institute",
    "Fourth Coffee",
    "Southridge Video",
    "City Power & Light",
    "Consolidated Messenger",
    "Wingtip Toys",
    "School of Fine Art",
    "Relecloud",
    "VanArsdel Ltd.",
    "Bellows College",
    "Munson's Pickles and Preserves",
    "Nod Publishers",
    "First Up Consultants",
    "Lamna Healthcare Company",
)

VENDOR_NAMES = (
    "Grainger Industrial Supply",
    "Fastenal Company",
    "McMaster-Carr Supply",
    "MSC Industrial",
    "Applied Industrial Technologies",
    "Motion Industries",
    "Kaman Distribution",
    "Bearing Service Co.",
    "Parker Hannifin",
    "SKF USA",
    "Timken Bearings",
    "Gates Corporation",
    "Lincoln Electric",
    "Hilti North America",
    "Uline Shipping Supplies",
    "Airgas USA",
    "Cintas Uniform Services",
    "Sherwin-Williams Industrial",
    "Brady Worldwide",
    "Global Equipment Company",
    "Zoro Tools",
    "Sunbelt Rentals",
    "United Rentals",
    "Atlas Copco Compressors",
    "Siemens Industry",
)

# (code, description, low price, high price, fractional quantities?)
SALES_CATALOG: tuple[tuple[str, str, int, int, bool], ...] = (
    ("SRV-INSP", "Preventive maintenance inspection", 180, 450, False),
    ("SRV-LAB", "Field service labour (hours)", 85, 140, True),
    ("PRT-PUMP-3", "Centrifugal pump assembly 3 in.", 1200, 2600, False),
    ("PRT-VLV-2", "Gate valve 2 in., stainless", 140, 320, False),
    ("PRT-MTR-7", "Electric motor 7.5 HP", 900, 1700, False),
    ("SRV-CAL", "Instrument calibration", 95, 260, False),
    ("PRT-FLT-H", "Hydraulic filter element", 35, 90, False),
    ("SRV-TRN", "On-site operator training (days)", 950, 1800, False),
    ("PRT-SEAL-K", "Mechanical seal kit", 110, 380, False),
)

PURCHASE_CATALOG: tuple[tuple[str, str, int, int, bool], ...] = (
    ("BRG-6205", "Deep groove ball bearing 6205-2RS", 6, 22, False),
    ("BLT-A48", "V-belt A48", 9, 25, False),
    ("LUB-EP2", "EP2 lithium grease, 14 oz cartridge", 5, 12, False),
    ("FST-M10", "Hex bolt M10x40, box of 100", 18, 45, False),
    ("GAS-ARG", "Argon cylinder refill", 45, 110, False),
    ("PPE-GLV", "Cut-resistant gloves, pair", 7, 19, False),
    ("RNT-LIFT", "Scissor lift rental (days)", 160, 320, False),
    ("WLD-ROD", "Welding rod E7018, 10 lb", 28, 65, False),
    ("SRV-FRT", "Freight and handling", 40, 380, False),
    ("CMP-SVC", "Compressor service (hours)", 110, 175, True),
)

CITIES: tuple[tuple[str, str, str, str], ...] = (
    ("Chicago", "IL", "60601", "US"),
    ("Houston", "TX", "77002", "US"),
    ("Columbus", "OH", "43215", "US"),
    ("Toronto", "ON", "M5H 2N2", "CA"),
    ("Manchester", "Greater Manchester", "M1 1AE", "GB"),
    ("Rotterdam", "ZH", "3011 AA", "NL"),
    ("Denver", "CO", "80202", "US"),
    ("Atlanta", "GA", "30303", "US"),
)
STREETS = ("Industrial Pkwy", "Commerce Dr", "Harbor Rd", "Mill St", "Enterprise Ave", "Dock Ln")

CENT = Decimal("0.01")


def money(value: Decimal) -> str:
    """Makini's wire form of an amount: a decimal string with two places."""
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def timestamp(moment: datetime) -> str:
    """Makini's wire form of a time: ISO 8601 UTC with a `Z` and whole seconds."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class KeyMaker:
    """Unique 14-digit keys shaped like the documented examples (`02000274112739`)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def __call__(self) -> str:
        while True:
            key = f"{self.rng.randint(1, 9):02d}000{self.rng.randrange(10**9):09d}"
            if key not in self.used:
                self.used.add(key)
                return key


@dataclass
class MakiniData:
    """Every resource, keyed by record key, in insertion order."""

    currencies: dict[str, Record] = field(default_factory=dict)
    statuses: dict[str, Record] = field(default_factory=dict)
    taxes: dict[str, Record] = field(default_factory=dict)
    customers: dict[str, Record] = field(default_factory=dict)
    vendors: dict[str, Record] = field(default_factory=dict)
    invoices: dict[str, Record] = field(default_factory=dict)


def seed(rng: random.Random, invoices: int | None = None) -> tuple[MakiniData, KeyMaker]:
    """Build the whole data set from `rng` (`invoices` of them, 180 by default); also
    return the key maker for later creates."""
    keys = KeyMaker(rng)
    data = MakiniData()
    setup = timestamp(SIM_NOW - timedelta(days=900))
    stamps = {"createdAt": setup, "updatedAt": setup, "deletedAt": None}
    for index, (code, name) in enumerate(CURRENCIES):
        key = keys()
        data.currencies[key] = {
            "key": key,
            "name": name,
            "code": code,
            "isBase": index == 0,
            "isActive": True,
            **stamps,
        }
    for code, name in STATUS_CODES:
        key = keys()
        data.statuses[key] = {
            "key": key,
            "organizationKey": ORGANIZATION_KEY,
            "parentKey": None,
            "name": name,
            "code": code,
            "subCode": None,
            "scope": "invoices",
            "isActive": True,
            **stamps,
        }
    for code, name, rate in TAXES:
        key = keys()
        data.taxes[key] = {
            "key": key,
            "name": name,
            "code": code,
            "rate": rate,
            "isActive": True,
            **stamps,
        }
    for index, name in enumerate(CUSTOMER_NAMES):
        record = _party(rng, keys, name, f"C{10010 + index * 7}")
        address = _address(rng)
        record["addresses"] = [address]
        record["billingAddress"] = address
        data.customers[record["key"]] = record
    for index, name in enumerate(VENDOR_NAMES):
        record = _party(rng, keys, name, f"V{20003 + index * 11}")
        data.vendors[record["key"]] = record
    _seed_invoices(rng, keys, data, 180 if invoices is None else invoices)
    return data, keys


def _party(rng: random.Random, keys: KeyMaker, name: str, code: str) -> Record:
    created = SIM_NOW - timedelta(days=rng.randint(560, 880), minutes=rng.randint(0, 1439))
    updated = created + timedelta(days=rng.randint(0, 500))
    return {
        "key": keys(),
        "name": name,
        "code": code,
        "companyKey": keys(),
        "organizationKey": ORGANIZATION_KEY,
        "createdAt": timestamp(created),
        "updatedAt": timestamp(min(updated, SIM_NOW)),
        "deletedAt": None,
    }


def _address(rng: random.Random) -> Record:
    city, state, postal, country = rng.choice(CITIES)
    return {
        "street": f"{rng.randint(10, 9800)} {rng.choice(STREETS)}",
        "street2": rng.choice([None, None, f"Suite {rng.randint(100, 900)}"]),
        "city": city,
        "state": state,
        "postalCode": postal,
        "country": country,
    }


def _seed_invoices(rng: random.Random, keys: KeyMaker, data: MakiniData, count: int) -> None:
    status_key = {record["code"]: key for key, record in data.statuses.items()}
    currency_keys = list(data.currencies)
    tax_rates = [Decimal(record["rate"]) for record in data.taxes.values()]
    customers, vendors = list(data.customers), list(data.vendors)
    sales_no, bill_no = 1040, 0
    # Oldest first, so that each side's invoice numbers rise with the invoice date.
    plans = sorted(((rng.randint(0, 540), rng.random() < 0.55) for _ in range(count)), reverse=True)
    for index, (age, is_sale) in enumerate(plans):
        hour = 0 if rng.random() < 0.6 else rng.randint(6, 23)
        issued = SIM_NOW.replace(hour=hour, minute=rng.randint(0, 59) if hour else 0) - (
            timedelta(days=age)
        )
        due = issued + timedelta(days=rng.choice((15, 30, 30, 45, 60)))
        currency = currency_keys[rng.choices(range(4), weights=(75, 10, 10, 5))[0]]
        code = _status_for(rng, age, (SIM_NOW - due).days, is_sale, index)
        rate = rng.choice(tax_rates)
        catalog = SALES_CATALOG if is_sale else PURCHASE_CATALOG
        created = issued + timedelta(hours=rng.randint(1, 30) if not is_sale else 0)
        created = min(created, SIM_NOW - timedelta(hours=1))
        updated = min(created + timedelta(days=rng.randint(0, 40)), SIM_NOW)
        record: Record = {
            "key": keys(),
            "title": None,
            "customerKey": None,
            "locationKey": rng.choice(LOCATION_KEYS),
            "invoiceNumber": "",
            "vendorKey": None,
            "poKey": None,
            "statusKey": status_key[code],
            "lineItems": [],
            "invoiceDate": timestamp(issued),
            "dueDate": timestamp(due),
            "receivedDate": None,
            "currencyKey": currency,
            "totalNetValue": None,
            "totalTaxValue": None,
            "totalGrossValue": None,
            "salesOrderKey": None,
            "createdAt": timestamp(created),
            "updatedAt": timestamp(updated),
            "deletedAt": None,
        }
        if is_sale:
            sales_no += rng.randint(1, 3)
            record["invoiceNumber"] = f"SI-{issued.year}-{sales_no:05d}"
            if rng.random() < 0.93:
                record["customerKey"] = rng.choice(customers)
            if record["customerKey"] is None or rng.random() < 0.6:
                record["salesOrderKey"] = keys()
            party = data.customers.get(record["customerKey"] or "", {}).get("name", "customer")
            record["title"] = f"Sales invoice {record['invoiceNumber']} to {party}"
        else:
            bill_no += 1
            record["invoiceNumber"] = rng.choice(
                (
                    f"INV-{rng.randint(10000, 99999)}",
                    f"{rng.randint(100000, 999999)}",
                    f"BILL/{issued.year}/{bill_no:04d}",
                )
            )
            if rng.random() < 0.93:
                record["vendorKey"] = rng.choice(vendors)
            if record["vendorKey"] is None or rng.random() < 0.7:
                record["poKey"] = keys()
            record["receivedDate"] = timestamp(created)
            party = data.vendors.get(record["vendorKey"] or "", {}).get("name", "vendor")
            record["title"] = f"Bill {record['invoiceNumber']} from {party}"
        lines = [
            _line(rng, keys, record, number, rng.choice(catalog), rate, is_sale)
            for number in range(1, rng.randint(1, 5) + 1)
        ]
        set_totals(record, lines)
        data.invoices[record["key"]] = record


def _status_for(rng: random.Random, age: int, overdue_days: int, is_sale: bool, index: int) -> str:
    if index % 30 == 7:
        return "on_hold"
    if index % 25 == 3:
        return "partially_paid"
    if age < 21:
        return rng.choice(("draft", "submitted") if not is_sale else ("draft", "open"))
    if age < 45:
        return rng.choice(("submitted", "open", "open", "partially_paid", "paid"))
    if overdue_days > 0 and rng.random() < 0.12:
        return rng.choice(("open", "partially_paid"))
    return "cancelled" if rng.random() < 0.06 else "paid"


def _line(
    rng: random.Random,
    keys: KeyMaker,
    invoice: Record,
    number: int,
    item: tuple[str, str, int, int, bool],
    rate: Decimal,
    is_sale: bool,
) -> Record:
    code, description, low, high, fractional = item
    quantity = (
        Decimal(rng.randint(2, 32)) / 2 if fractional else Decimal(rng.choice((1, 1, 2, 4, 10)))
    )
    price = Decimal(rng.randint(low * 100, high * 100)) / 100
    discount = (
        (quantity * price * Decimal("0.05")).quantize(CENT) if rng.random() < 0.1 else (Decimal(0))
    )
    net = (quantity * price - discount).quantize(CENT, rounding=ROUND_HALF_UP)
    tax = (net * rate / 100).quantize(CENT, rounding=ROUND_HALF_UP)
    return {
        "key": keys(),
        "locationKey": invoice["locationKey"],
        "vendorKey": invoice["vendorKey"],
        "productKey": keys(),
        "statusKey": None,
        "storeroomKey": None,
        "currencyKey": invoice["currencyKey"],
        "lineNo": str(number),
        "code": code,
        "description": description,
        "lineRef": None,
        "quantity": _quantity(quantity),
        "receivedQuantity": None if is_sale else _quantity(quantity),
        "uomKey": None,
        "price": money(price),
        "discount": money(discount),
        "lineTaxValue": money(tax),
        "lineTotalValue": money(net),
        "notes": None,
        "deliveryAt": None,
        "createdAt": invoice["createdAt"],
        "updatedAt": invoice["createdAt"],
        "deletedAt": None,
    }


def _quantity(value: Decimal) -> str:
    # Quantities are strings like "10" (makini.md); keep a fraction only where there is one.
    return str(value.quantize(Decimal(1))) if value == value.to_integral() else str(value)


def set_totals(invoice: Record, lines: list[Record]) -> None:
    """Store `lines` and derive the three totals from them (net excludes tax)."""
    net = sum((Decimal(line["lineTotalValue"]) for line in lines), Decimal(0))
    tax = sum((Decimal(line["lineTaxValue"]) for line in lines), Decimal(0))
    invoice["lineItems"] = lines
    invoice["totalNetValue"] = money(net)
    invoice["totalTaxValue"] = money(tax)
    invoice["totalGrossValue"] = money(net + tax)
