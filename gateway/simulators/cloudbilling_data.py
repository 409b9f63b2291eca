"""Cloud Billing's records: its money formulas, deterministic seed data, write-body rules.

Records are held as wire-shaped dicts whose amounts are `Decimal`; `to_wire` turns them
into JSON numbers when a reply is written. The formulas are the Assumed ones of
`docs/upstreams/cloudbilling.md` (round half up to two places, in Decimal).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from gateway.simulators.base import SIM_NOW, SIM_TODAY

Record = dict[str, Any]

CENT = Decimal("0.01")
HUNDRED = Decimal(100)


def round2(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def make_line(
    line_id: str, description: str, quantity: Decimal, unit_price: Decimal, tax_rate: Decimal
) -> Record:
    """A line row; `line_total = round2(quantity x unit_price x (1 + tax_rate/100))`."""
    line_total = round2(quantity * unit_price * (1 + tax_rate / HUNDRED))
    return {
        "id": line_id,
        "description": description,
        "quantity": quantity,
        "unit_price": unit_price,
        "tax_rate": tax_rate,
        "line_total": line_total,
    }


def apply_totals(invoice: Record) -> None:
    """Set `subtotal`, `tax_total` and `total` from the lines, per the contract's formulas."""
    subtotal = Decimal("0.00")
    tax_total = Decimal("0.00")
    for line in invoice["lines"]:
        net = line["quantity"] * line["unit_price"]
        subtotal += round2(net)
        tax_total += round2(net * line["tax_rate"] / HUNDRED)
    invoice["subtotal"] = subtotal
    invoice["tax_total"] = tax_total
    invoice["total"] = subtotal + tax_total


def to_wire(value: Any) -> Any:
    """A JSON-ready copy: Decimals become JSON numbers (an int when integral)."""
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return int(value)
        # A Decimal of at most 15 significant digits survives float's shortest repr
        # unchanged, so json.dumps writes exactly these digits (49.99, never 49.990000001).
        return float(value)
    if isinstance(value, dict):
        return {key: to_wire(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_wire(item) for item in value]
    return value


def timestamp(moment: datetime) -> str:
    """One fixed timestamp format (as PostgREST writes timestamptz), so that it sorts."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def snapshot(customer: Record) -> Record:
    return {"id": customer["id"], "name": customer["name"], "email": customer["email"]}


def list_key(record: Record) -> tuple[str, str]:
    """The list order of both resources (Assumed): `created_at` ascending, then `id`."""
    return (record["created_at"], record["id"])


@dataclass
class Tenant:
    """One workspace: its records, and who may read them."""

    slug: str
    name: str
    currency: str
    members: frozenset[str]
    number_prefix: str
    customers: dict[str, Record] = field(default_factory=dict)
    invoices: dict[str, Record] = field(default_factory=dict)
    next_number: int = 1

    def take_number(self, year: int) -> str:
        number = f"{self.number_prefix}-{year}-{self.next_number:04d}"
        self.next_number += 1
        return number


COMPANIES = [
    "Northwind Traders",
    "Contoso Pharmaceuticals",
    "Fabrikam Fiber",
    "Tailspin Toys",
    "Wingtip Outfitters",
    "Adventure Works Cycles",
    "Blue Yonder Airlines",
    "Coho Winery",
    "Litware Inc.",
    "Proseware Analytics",
    "Lucerne Publishing",
    "Margie's Travel",
    "Alpine Ski House",
    "Trey Research",
    "Woodgrove Bank",
    "Humongous Insurance",
    "Graphic Design Institute",
    "Wide World Importers",
    "Southridge Video",
    "Fourth Coffee",
    "Relecloud",
    "VanArsdel Ltd",
    "Bellows College",
    "Lamna Healthcare",
    "Munson's Pickles and Preserves",
    "Nod Publishers",
    "Datum Corporation",
    "Consolidated Messenger",
    "School of Fine Art",
    "Best For You Organics",
]
MAILBOXES = ["billing", "accounts", "ap", "finance", "invoices"]

# (description, unit prices, quantities): prices like 19.99 and quantities like 1.5
# make the per-line rounding of the contract's formulas actually bite.
CATALOG: list[tuple[str, list[str], list[str]]] = [
    ("Consulting (hourly)", ["150", "175", "162.50"], ["1.5", "2", "3", "7.5", "12"]),
    ("Pro plan subscription (monthly)", ["49.99", "99"], ["1", "3", "12"]),
    ("Starter plan subscription (monthly)", ["19.99"], ["1", "2", "5"]),
    ("Additional seats", ["12.75", "8.49"], ["3", "10", "25"]),
    ("Onboarding workshop", ["1250", "890"], ["1"]),
    ("Data migration", ["2400", "1875.50"], ["1", "0.5"]),
    ("API overage (per 1,000 calls)", ["0.35", "1.29"], ["120", "48", "333"]),
    ("Priority support", ["299", "149.95"], ["1", "1.5"]),
    ("Custom report development", ["89.50", "112.25"], ["2.5", "4", "6.25"]),
    ("Hardware token", ["24.99", "4.99"], ["3", "7", "15"]),
    ("Travel expenses (at cost)", ["317.42", "86.10"], ["1"]),
]
# Tax rates per currency, in percent: US sales taxes (NYC 8.875%, California 7.25%),
# German and UK VAT, and zero-rated lines.
TAX_RATES = {
    "USD": ["7.25", "8.875", "0", "6.5"],
    "EUR": ["19", "7", "0"],
    "GBP": ["20", "5", "0"],
}


def new_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def seed_tenant(
    rng: random.Random,
    tenant: Tenant,
    companies: list[str],
    currencies: list[str],
    invoice_count: int,
    renamed: int = 0,
) -> None:
    """Customers, then invoices spread over the ~18 months before SIM_TODAY; then
    `renamed` customers get a new name, which old invoices' snapshots do not follow."""
    start = SIM_NOW - timedelta(days=560)
    preferred: dict[str, str] = {}
    for offset, company in enumerate(companies):
        created = start + timedelta(hours=offset * 15, minutes=rng.randrange(600))
        domain = "".join(ch for ch in company.lower() if ch.isalnum()) + ".example"
        email = None if rng.random() < 0.15 else f"{rng.choice(MAILBOXES)}@{domain}"
        customer: Record = {
            "id": new_id(rng),
            "name": company,
            "email": email,
            "created_at": timestamp(created),
        }
        tenant.customers[customer["id"]] = customer
        preferred[customer["id"]] = rng.choice(currencies)
    customer_ids = list(tenant.customers)
    days = sorted(rng.randrange(1, 540) for _ in range(invoice_count))
    for age in reversed(days):
        customer = tenant.customers[rng.choice(customer_ids)]
        issue = SIM_TODAY - timedelta(days=age)
        created = datetime.combine(issue, time(8), UTC) + timedelta(
            seconds=rng.randrange(36000), microseconds=rng.randrange(1_000_000)
        )
        invoice = _seed_invoice(rng, tenant, customer, preferred[customer["id"]], issue, created)
        tenant.invoices[invoice["id"]] = invoice
    for customer_id in rng.sample(customer_ids, renamed):
        customer = tenant.customers[customer_id]
        customer["name"] = f"{customer['name']} Holdings"


def _seed_invoice(
    rng: random.Random,
    tenant: Tenant,
    customer: Record,
    currency: str,
    issue: date,
    created: datetime,
) -> Record:
    age = (SIM_TODAY - issue).days
    if age < 75:
        status = rng.choices(["draft", "issued", "paid"], [4, 5, 2])[0]
    else:
        status = rng.choices(["paid", "issued", "void"], [12, 3, 2])[0]
    terms = rng.choice([14, 30, 30, 45, None])
    updated = created
    if status in ("paid", "void"):
        updated = min(
            created + timedelta(days=rng.randrange(1, 40), minutes=rng.randrange(900)), SIM_NOW
        )
    lines = []
    for _ in range(rng.choices([1, 2, 3, 4, 6], [4, 4, 3, 2, 1])[0]):
        description, prices, quantities = rng.choice(CATALOG)
        lines.append(
            make_line(
                new_id(rng),
                description,
                Decimal(rng.choice(quantities)),
                Decimal(rng.choice(prices)),
                Decimal(rng.choice(TAX_RATES[currency])),
            )
        )
    invoice: Record = {
        "id": new_id(rng),
        "number": tenant.take_number(issue.year),
        "status": status,
        "currency": currency,
        "issue_date": issue.isoformat(),
        "due_date": (issue + timedelta(days=terms)).isoformat() if terms else None,
        "customer_id": customer["id"],
        "customer": snapshot(customer),
        "lines": lines,
        "created_at": timestamp(created),
        "updated_at": timestamp(updated),
    }
    apply_totals(invoice)
    return invoice


# --- write bodies ---------------------------------------------------------------------
class Invalid(Exception):
    """A request body that breaks a rule; becomes a 422 (or the given status)."""

    def __init__(self, message: str, status: int = 422, code: str = "validation_failed"):
        super().__init__(message)
        self.message, self.status, self.code = message, status, code


def text_field(body: Record, key: str, required: bool = False, where: str = "") -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"{where}{key}: {'required' if value is None else 'must be a string'}")
    return value


def name_field(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid("name: required, a non-empty string")
    return value.strip()


def email_field(value: Any) -> str | None:
    if value is None or value == "":  # "" clears the email (seed 004)
        return None
    if not isinstance(value, str) or "@" not in value:
        raise Invalid("email: must be an email address, or empty to clear it")
    return value


def number_field(row: Record, key: str, default: Decimal | None, where: str) -> Decimal:
    value = row.get(key)
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise Invalid(f"{where}{key}: {'required' if value is None else 'must be a number'}")
    return Decimal(value)


def date_field(body: Record, key: str) -> date | None:
    value = body.get(key)
    if value is None:
        return None
    try:
        if isinstance(value, str) and len(value) == 10:
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise Invalid(f"{key}: must be a date YYYY-MM-DD")
