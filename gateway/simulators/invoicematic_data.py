"""Seeded records for the Invoicematic simulator (shapes from seed 003, Crater field names).

Everything is built from the `rng` handed in, relative to `SIM_TODAY`, so a seed always
gives the same company. Money is integer cents throughout, as on the wire.
"""

from __future__ import annotations

import hashlib
import random
import string
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from gateway.simulators.base import SIM_NOW, SIM_TODAY

Record = dict[str, Any]

# Crater's countries table (the old "countries" seeder): the ids seed 003 uses (231 = US).
COUNTRY_IDS = {"US": 231, "GB": 230, "DE": 82, "IE": 105, "FR": 75, "CA": 38}
# Assumed in docs/upstreams/invoicematic.md: currency_id 1 = USD, 2 = GBP, 3 = EUR.
CURRENCY_BY_COUNTRY = {"US": 1, "CA": 1, "GB": 2, "DE": 3, "IE": 3, "FR": 3}

PAYMENT_METHODS = {1: "Bank Transfer", 2: "Credit Card", 3: "Check", 4: "Cash"}
EXPENSE_CATEGORIES = {1: "Travel", 2: "Office Supplies", 3: "Software", 4: "Meals"}
UNITS = {1: "hour", 2: "day", 3: "unit"}

_COMPANIES: list[tuple[str, str, str, str, str, str]] = [
    # company, contact, street, city, state, country
    ("Northwind Traders", "Laura Callahan", "1200 Pine St", "Seattle", "WA", "US"),
    ("Bluebird Logistics", "Marcus Hale", "88 Harbor Way", "Oakland", "CA", "US"),
    ("Cedar & Stone Architects", "Priya Raman", "415 Elm Ave", "Austin", "TX", "US"),
    ("Summit Ridge Outfitters", "Dana Whitfield", "9 Trailhead Rd", "Boulder", "CO", "US"),
    ("Harborview Dental Group", "Kevin Osei", "300 Waterfront Dr", "Baltimore", "MD", "US"),
    ("Lumen Analytics", "Sofia Marquez", "77 Market St", "San Francisco", "CA", "US"),
    ("Greenleaf Organics", "Tom Becker", "52 Orchard Ln", "Portland", "OR", "US"),
    ("Ironclad Security Inc.", "Rachel Kim", "610 Commerce Blvd", "Chicago", "IL", "US"),
    ("Brightpath Learning", "Omar Farouk", "18 College Ave", "Ann Arbor", "MI", "US"),
    ("Redwood Property Management", "Jill Sanders", "2400 Redwood Hwy", "Sacramento", "CA", "US"),
    ("Atlas Freight Co.", "Victor Nguyen", "5 Dockside Pl", "Houston", "TX", "US"),
    ("Maple Street Bakery", "Hannah Cole", "140 Maple St", "Burlington", "VT", "US"),
    ("Quantum Leap Robotics", "Ethan Brooks", "900 Innovation Dr", "Pittsburgh", "PA", "US"),
    ("Silver Lake Consulting", "Grace Liu", "33 Lakeshore Dr", "Los Angeles", "CA", "US"),
    ("Pioneer Health Clinic", "Samuel Ortiz", "71 Frontier Rd", "Phoenix", "AZ", "US"),
    ("Coastal Breeze Hotels", "Mia Russo", "1 Ocean Blvd", "Miami", "FL", "US"),
    ("Granite Peak Engineering", "Noah Fischer", "260 Quarry Rd", "Denver", "CO", "US"),
    ("Trillium Software", "Chloe Tremblay", "45 King St W", "Toronto", "ON", "CA"),
    ("Thames Valley Print Ltd", "Oliver Bennett", "12 Riverside", "Reading", "Berkshire", "GB"),
    ("Kensington Legal LLP", "Amelia Hughes", "8 Gloucester Rd", "London", "London", "GB"),
    ("Pennine Outdoor Ltd", "George Walsh", "22 Mill Lane", "Leeds", "West Yorkshire", "GB"),
    ("Clyde Marine Services", "Isla Campbell", "90 Broomielaw", "Glasgow", "Scotland", "GB"),
    ("Harrow & Finch Ltd", "Jack Turner", "5 Station Rd", "Bristol", "Bristol", "GB"),
    ("Nordlicht Medien GmbH", "Lukas Wagner", "Friedrichstr. 120", "Berlin", "Berlin", "DE"),
    ("Alpenblick Reisen GmbH", "Anna Huber", "Leopoldstr. 44", "Munich", "Bavaria", "DE"),
    ("Rheinwerk Maschinenbau AG", "Jonas Becker", "Industriestr. 7", "Cologne", "NRW", "DE"),
    ("Liffey Digital Ltd", "Aoife Byrne", "14 Grand Canal Quay", "Dublin", "Dublin", "IE"),
    ("Atelier Lumière SARL", "Camille Dubois", "18 Rue de Rivoli", "Paris", "Ile-de-France", "FR"),
    ("Boulangerie Moreau", "Julien Moreau", "3 Place Bellecour", "Lyon", "Rhone", "FR"),
    ("Galway Bay Seafoods", "Cian Murphy", "2 Dock Rd", "Galway", "Galway", "IE"),
]

# (name, description, unit id, price in cents): the product and service catalog.
_CATALOG: list[tuple[str, str, int | None, int]] = [
    ("Web Development", "Full-stack web development services", 1, 15000),
    ("Logo Design", "Custom logo and brand identity", None, 250000),
    ("SEO Audit", "Comprehensive SEO analysis and recommendations", None, 75000),
    ("UX Research", "User interviews and usability testing", 1, 12000),
    ("Cloud Hosting", "Managed hosting, monthly", 3, 4900),
    ("Support Retainer", "Priority support, monthly retainer", 3, 180000),
    ("Copywriting", "Website and campaign copy", 1, 9500),
    ("Mobile App Development", "iOS and Android development", 1, 16500),
    ("Data Migration", "Legacy data migration and validation", 2, 96000),
    ("Training Workshop", "On-site team training", 2, 140000),
    ("Security Review", "Application security assessment", 2, 120000),
    ("Photography", "Product photography session", 3, 45000),
]

# (status, paid_status) pairs seeded, with how many of each: every combination Crater can
# reach (a partially paid invoice keeps its SENT/VIEWED/OVERDUE status; a fully paid one
# is COMPLETED), plus one unpaid COMPLETED record (Crater lets a user mark an invoice
# completed by hand), which the contract's precedence maps to PAID.
_STATUS_MIX: list[tuple[str, str, int]] = [
    ("DRAFT", "UNPAID", 14),
    ("SENT", "UNPAID", 22),
    ("VIEWED", "UNPAID", 14),
    ("OVERDUE", "UNPAID", 14),
    ("SENT", "PARTIALLY_PAID", 8),
    ("VIEWED", "PARTIALLY_PAID", 5),
    ("OVERDUE", "PARTIALLY_PAID", 5),
    ("COMPLETED", "PAID", 37),
    ("COMPLETED", "UNPAID", 1),
]


@dataclass
class Store:
    """The simulator's whole state: records by id (embedded relations such as an invoice's
    `customer` are added when a record is rendered, so they never go stale), plus a clock
    for writes."""

    customers: dict[int, Record] = field(default_factory=dict)
    invoices: dict[int, Record] = field(default_factory=dict)
    payments: dict[int, Record] = field(default_factory=dict)
    items: dict[int, Record] = field(default_factory=dict)
    estimates: dict[int, Record] = field(default_factory=dict)
    expenses: dict[int, Record] = field(default_factory=dict)
    # The status an invoice had before it was paid in full, to fall back to when a payment
    # is changed (Crater's getPreviousStatus); kept off the wire.
    previous_status: dict[int, str] = field(default_factory=dict)
    clock: datetime = SIM_NOW

    def tick(self) -> str:
        """A timestamp for a write: simulated time, one second per write (deterministic)."""
        self.clock += timedelta(seconds=1)
        return stamp(self.clock)

    def next_id(self, table: dict[int, Record]) -> int:
        return max(table, default=0) + 1


def stamp(moment: datetime) -> str:
    """Laravel's JSON timestamp format (seed 003: `2026-01-15T08:00:00.000000Z`)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def unique_hash(rng: random.Random) -> str:
    """Crater's `unique_hash` is a Hashids string; any stable 20-char token will do."""
    alphabet = string.ascii_letters + string.digits
    return "".join(rng.choice(alphabet) for _ in range(20))


def seed_store(rng: random.Random, invoices: int | None = None) -> Store:
    """The company's records; `invoices` of them (the status mix repeated) or 120."""
    store = Store()
    _seed_catalog(store)
    _seed_customers(store, rng)
    _seed_invoices(store, rng, invoices)
    _seed_estimates(store, rng)
    _seed_expenses(store, rng)
    return store


def _created(day: date, index: int) -> datetime:
    """A creation time on `day`, distinct for each index (under 2,000 records a day), so
    that `created_at` alone is a total order, as the default list order needs."""
    start = datetime(day.year, day.month, day.day, 8, 0, tzinfo=SIM_NOW.tzinfo)
    return start + timedelta(seconds=index * 37)


def _seed_catalog(store: Store) -> None:
    start = datetime(2025, 3, 3, 9, 0, tzinfo=SIM_NOW.tzinfo)
    for index, (name, description, unit_id, price) in enumerate(_CATALOG, start=1):
        created = stamp(start + timedelta(days=index, minutes=index))
        record: Record = {
            "id": index,
            "name": name,
            "description": description,
            "price": price,
            "unit_id": unit_id,
            "company_id": 1,
            "creator_id": 1,
            "currency_id": 1,
            "tax_per_item": "NO",
            "created_at": created,
            "updated_at": created,
        }
        store.items[index] = record


def _seed_customers(store: Store, rng: random.Random) -> None:
    start = datetime(2025, 3, 10, 9, 0, tzinfo=SIM_NOW.tzinfo)
    for index, (company, contact, street, city, state, country) in enumerate(_COMPANIES, start=1):
        domain = "".join(ch for ch in company.lower().split(" ")[0] if ch.isalnum()) + (
            ".co.uk" if country == "GB" else ".example.com"
        )
        first = contact.split(" ")[0].lower()
        phone = (
            f"+44 20 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}"
            if country == "GB"
            else f"+1 {rng.randint(201, 989)}-555-{rng.randint(100, 199):04d}"
            if country in ("US", "CA")
            else f"+{rng.choice([33, 49, 353])} {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
        )
        created = start + timedelta(days=index * 3, minutes=rng.randint(0, 600))
        billing: Record = {
            "name": company,
            "address_street_1": street,
            "address_street_2": None,
            "city": city,
            "state": state,
            "zip": f"{rng.randint(10000, 99999)}",
            "country_id": COUNTRY_IDS[country],
            "phone": phone,
        }
        store.customers[index] = {
            "id": index,
            "name": company,
            "email": f"{first}@{domain}",
            "phone": phone,
            "contact_name": contact,
            "company_name": company,
            "website": f"https://{domain}",
            "currency_id": CURRENCY_BY_COUNTRY[country],
            "prefix": None,
            "company_id": 1,
            "creator_id": 1,
            "created_at": stamp(created),
            "updated_at": stamp(created),
            "billing": billing,
            "shipping": None,
        }


def _seed_invoices(store: Store, rng: random.Random, invoices: int | None) -> None:
    plan = [(s, p) for s, p, count in _STATUS_MIX for _ in range(count)]
    if invoices is not None:
        plan = [plan[index % len(plan)] for index in range(invoices)]
    rng.shuffle(plan)
    # Issue days spread over the ~18 months before SIM_TODAY, oldest first, so ids,
    # invoice numbers and created_at all grow together as in a real company.
    days = sorted(SIM_TODAY - timedelta(days=rng.randint(0, 540)) for _ in plan)
    line_id = 0
    for index, ((status, paid_status), issued) in enumerate(zip(plan, days, strict=True), 1):
        # Keep statuses truthful: OVERDUE ones are past due, open unpaid ones are not.
        if status == "OVERDUE" or (status == "COMPLETED" and paid_status == "UNPAID"):
            issued = min(issued, SIM_TODAY - timedelta(days=60))
        if status != "OVERDUE" and paid_status != "PAID" and status != "COMPLETED":
            issued = max(issued, SIM_TODAY - timedelta(days=12))
        customer = store.customers[rng.randint(1, len(store.customers))]
        lines: list[Record] = []
        for _ in range(rng.randint(1, 4)):
            line_id += 1
            product = _CATALOG[rng.randrange(len(_CATALOG))]
            quantity: int | float = rng.choice([1, 1, 2, 3, 5, 8, 10, 1.5, 2.5, 12])
            total = round(quantity * product[3])
            lines.append(
                {
                    "id": line_id,
                    "name": product[0],
                    "description": product[1],
                    "quantity": quantity,
                    "price": product[3],
                    "total": total,
                }
            )
        sub_total = sum(line["total"] for line in lines)
        percent = rng.choice([0, 0, 5, 10])
        discount_val = sub_total * percent // 100
        tax = rng.choice([0, 0, (sub_total - discount_val) * 2 // 25])  # none or 8 %
        total = sub_total - discount_val + tax
        created = _created(issued, index)
        invoice: Record = {
            "id": index,
            "invoice_date": issued.isoformat(),
            "due_date": (issued + timedelta(days=rng.choice([14, 30, 30, 45]))).isoformat(),
            "invoice_number": f"INV-{index:06d}",
            "reference_number": f"REF-{1000 + index}" if rng.random() < 0.4 else None,
            "status": status,
            "paid_status": paid_status,
            "discount_type": "percentage" if percent else "fixed",
            "discount": percent,
            "discount_val": discount_val,
            "sub_total": sub_total,
            "total": total,
            "tax": tax,
            "due_amount": total,
            "currency_id": customer["currency_id"],
            "exchange_rate": 1,
            "customer_id": customer["id"],
            "template_name": "invoice1",
            "creator_id": 1,
            "unique_hash": unique_hash(rng),
            "created_at": stamp(created),
            "updated_at": stamp(created),
            "items": lines,
        }
        store.invoices[index] = invoice
        if status == "COMPLETED":
            store.previous_status[index] = "SENT"
    _seed_payments(store, rng)


def _seed_payments(store: Store, rng: random.Random) -> None:
    """Payments that add up exactly to `total - due_amount` of their invoice."""
    pending: list[tuple[date, Record, int]] = []
    for invoice in store.invoices.values():
        total = invoice["total"]
        if invoice["paid_status"] == "PAID":
            parts = rng.choice([1, 1, 1, 2, 3])
            paid = total
        elif invoice["paid_status"] == "PARTIALLY_PAID":
            parts = rng.randint(1, 3)
            paid = total * rng.randint(20, 80) // 100
        else:
            continue
        invoice["due_amount"] = total - paid
        cuts = sorted(rng.sample(range(1, paid), parts - 1)) if parts > 1 and paid > 3 else []
        amounts = [b - a for a, b in zip([0, *cuts], [*cuts, paid], strict=True)]
        issued = date.fromisoformat(invoice["invoice_date"])
        for amount in amounts:
            when = min(issued + timedelta(days=rng.randint(3, 40)), SIM_TODAY)
            pending.append((when, invoice, amount))
    pending.sort(key=lambda entry: (entry[0], entry[1]["id"]))
    for index, (when, invoice, amount) in enumerate(pending, start=1):
        customer = store.customers[invoice["customer_id"]]
        method = rng.randint(1, len(PAYMENT_METHODS))
        created = _created(when, index)
        store.payments[index] = {
            "id": index,
            "payment_number": f"PAY-{index:06d}",
            "payment_date": when.isoformat(),
            "amount": amount,
            "notes": f"Payment received via {PAYMENT_METHODS[method].lower()}",
            "customer_id": customer["id"],
            "invoice_id": invoice["id"],
            "payment_method_id": method,
            "currency_id": invoice["currency_id"],
            "exchange_rate": 1,
            "base_amount": amount,
            "creator_id": 1,
            "created_at": stamp(created),
            "updated_at": stamp(created),
        }


def _seed_estimates(store: Store, rng: random.Random) -> None:
    for index in range(1, 9):
        issued = SIM_TODAY - timedelta(days=rng.randint(0, 120))
        customer = store.customers[rng.randint(1, len(store.customers))]
        product = _CATALOG[rng.randrange(len(_CATALOG))]
        quantity = rng.choice([1, 2, 5, 10])
        total = quantity * product[3]
        created = stamp(_created(issued, index))
        store.estimates[index] = {
            "id": index,
            "estimate_date": issued.isoformat(),
            "expiry_date": (issued + timedelta(days=30)).isoformat(),
            "estimate_number": f"EST-{index:06d}",
            "status": rng.choice(["DRAFT", "SENT", "VIEWED", "ACCEPTED", "REJECTED"]),
            "discount_type": "fixed",
            "discount": 0,
            "discount_val": 0,
            "sub_total": total,
            "total": total,
            "tax": 0,
            "currency_id": customer["currency_id"],
            "exchange_rate": 1,
            "customer_id": customer["id"],
            "template_name": "estimate1",
            "creator_id": 1,
            "created_at": created,
            "updated_at": created,
            "items": [
                {
                    "id": index,
                    "name": product[0],
                    "quantity": quantity,
                    "price": product[3],
                    "total": total,
                }
            ],
        }


def _seed_expenses(store: Store, rng: random.Random) -> None:
    notes = [
        "Office supplies purchase",
        "Flight to client workshop",
        "Design tool licence",
        "Team lunch",
        "Printer toner",
        "Conference hotel",
        "Cloud backup subscription",
    ]
    for index in range(1, 11):
        when = SIM_TODAY - timedelta(days=rng.randint(0, 300))
        category = rng.randint(1, len(EXPENSE_CATEGORIES))
        amount = rng.randint(15, 900) * 100 + rng.choice([0, 50, 99])
        created = stamp(_created(when, index))
        store.expenses[index] = {
            "id": index,
            "expense_date": when.isoformat(),
            "expense_number": f"EXP-{index:06d}",
            "amount": amount,
            "notes": rng.choice(notes),
            "customer_id": None,
            "expense_category_id": category,
            "currency_id": 1,
            "exchange_rate": 1,
            "base_amount": amount,
            "payment_method_id": rng.randint(1, 2),
            "creator_id": 1,
            "created_at": created,
            "updated_at": created,
        }


# --- writes: Laravel-style validation, then Crater's side effects ----------------------


class Invalid(Exception):
    """A 422: Laravel's `errors` map, field name to messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("invalid")
        self.errors = errors


# field -> (required, kind). Required fields per seed 003's tables (and Crater's requests).
Rule = tuple[bool, str]
_DOCUMENT: dict[str, Rule] = {
    "customer_id": (True, "int"),
    "discount": (True, "number"),
    "discount_val": (True, "cents"),
    "sub_total": (True, "cents"),
    "total": (True, "cents"),
    "tax": (True, "cents"),
    "template_name": (True, "string"),
    "items": (True, "array"),
    "discount_type": (False, "string"),
}
RULES: dict[str, dict[str, Rule]] = {
    "invoices": {
        "invoice_date": (True, "date"),
        "due_date": (False, "date"),
        "invoice_number": (True, "string"),
        "reference_number": (False, "string"),
        **_DOCUMENT,
    },
    "customers": {
        "name": (True, "string"),
        "email": (False, "string"),
        "phone": (False, "string"),
        "contact_name": (False, "string"),
        "company_name": (False, "string"),
        "website": (False, "string"),
        "currency_id": (False, "int"),
        "billing": (False, "object"),
        "shipping": (False, "object"),
    },
    "payments": {
        "payment_date": (True, "date"),
        "customer_id": (True, "int"),
        "amount": (True, "cents"),
        "payment_number": (True, "string"),
        "invoice_id": (False, "int"),
        "payment_method_id": (False, "int"),
        "notes": (False, "string"),
    },
    "estimates": {
        "estimate_date": (True, "date"),
        "expiry_date": (False, "date"),
        "estimate_number": (True, "string"),
        **_DOCUMENT,
    },
    "expenses": {
        "expense_date": (True, "date"),
        "expense_category_id": (True, "int"),
        "amount": (True, "cents"),
        "currency_id": (True, "int"),
        "customer_id": (False, "int"),
        "payment_method_id": (False, "int"),
        "notes": (False, "string"),
    },
    "items": {
        "name": (True, "string"),
        "price": (True, "cents"),
        "description": (False, "string"),
        "unit_id": (False, "int"),
    },
}
_LINE: dict[str, Rule] = {
    "name": (True, "string"),
    "description": (False, "string"),
    "quantity": (True, "number"),
    "price": (True, "cents"),
}
_UNIQUE = {
    "invoices": "invoice_number",
    "payments": "payment_number",
    "estimates": "estimate_number",
    "customers": "email",
}
_CURRENCIES = (1, 2, 3)


def _check(
    body: Record, rules: dict[str, Rule], prefix: str, errors: dict[str, list[str]]
) -> Record:
    clean: Record = {}
    for name, (required, kind) in rules.items():
        key, label = prefix + name, (prefix + name).replace("_", " ")
        value = body.get(name)
        # Laravel's `required` also fails an empty array: an invoice needs items.
        if value is None or value == "" or value == []:
            if required:
                errors[key] = [f"The {label} field is required."]
            elif name in body:
                clean[name] = None
            continue
        problem = _type_problem(value, kind, label)
        if problem:
            errors[key] = [problem]
        else:
            clean[name] = int(value) if kind == "cents" else value
    return clean


def _type_problem(value: Any, kind: str, label: str) -> str | None:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "int" and not (number and float(value).is_integer()):
        return f"The {label} must be an integer."
    if kind == "cents" and not (number and float(value).is_integer()):
        return f"The {label} must be an integer."  # cents are whole numbers
    if kind == "number" and not number:
        return f"The {label} must be a number."
    if kind == "string" and not isinstance(value, str):
        return f"The {label} must be a string."
    if kind == "date":
        try:
            date.fromisoformat(value if isinstance(value, str) and len(value) == 10 else "")
        except ValueError:
            return f"The {label} does not match the format Y-m-d."
    if kind in ("array", "object") and not isinstance(value, list if kind == "array" else dict):
        return f"The {label} must be an array."
    return None


def validate(store: Store, resource: str, body: Record, existing: Record | None) -> Record:
    """The accepted fields of a POST or PUT body (a PUT is validated like a POST, as in
    Crater); raises `Invalid` with Laravel's messages."""
    errors: dict[str, list[str]] = {}
    fields = _check(body, RULES[resource], "", errors)
    if isinstance(fields.get("items"), list):
        lines = []
        for index, line in enumerate(fields["items"]):
            lines.append(
                _check(line if isinstance(line, dict) else {}, _LINE, f"items.{index}.", errors)
            )
        fields["items"] = lines
    _check_references(store, resource, fields, errors)
    unique = _UNIQUE.get(resource)
    if unique and fields.get(unique) is not None:
        table: dict[int, Record] = getattr(store, resource)
        own = existing["id"] if existing else None
        if any(r[unique] == fields[unique] and r["id"] != own for r in table.values()):
            errors[unique] = [f"The {unique.replace('_', ' ')} has already been taken."]
    if not errors and resource == "invoices" and existing is not None:
        paid = existing["total"] - existing["due_amount"]
        if paid and fields["customer_id"] != existing["customer_id"]:
            errors["customer_id"] = ["The customer cannot be changed after a payment."]
        if fields["total"] < paid:
            errors["total"] = ["The total must not be less than the amount already paid."]
    if not errors and resource == "payments":
        _check_payment(store, fields, existing, errors)
    if errors:
        raise Invalid(errors)
    return fields


def _check_references(
    store: Store, resource: str, fields: Record, errors: dict[str, list[str]]
) -> None:
    known: dict[str, Any] = {
        "customer_id": store.customers,
        "invoice_id": store.invoices,
        "payment_method_id": PAYMENT_METHODS,
        "expense_category_id": EXPENSE_CATEGORIES,
        "unit_id": UNITS,
        "currency_id": _CURRENCIES,
    }
    for name, table in known.items():
        value = fields.get(name)
        if name not in errors and value is not None and int(value) not in table:
            errors[name] = [f"The selected {name.replace('_', ' ')} is invalid."]
        elif value is not None:
            fields[name] = int(value)


def _check_payment(
    store: Store, fields: Record, existing: Record | None, errors: dict[str, list[str]]
) -> None:
    if fields["amount"] < 1:
        errors["amount"] = ["The amount must be at least 1."]
        return
    invoice = store.invoices.get(fields.get("invoice_id") or -1)
    if invoice is None:
        return
    if invoice["customer_id"] != fields["customer_id"]:
        errors["invoice_id"] = ["The selected invoice id is invalid."]
        return
    available = invoice["due_amount"]
    if existing is not None and existing["invoice_id"] == invoice["id"]:
        available += existing["amount"]
    if fields["amount"] > available:
        errors["amount"] = ["The amount must not be greater than the invoice's due amount."]


def settle(store: Store, invoice: Record) -> None:
    """Crater's status by due amount: zero is COMPLETED + PAID; otherwise the invoice gets
    back the status it had before it was paid, and UNPAID or PARTIALLY_PAID."""
    due, invoice_id = invoice["due_amount"], invoice["id"]
    if due == 0:
        if invoice["status"] != "COMPLETED":
            store.previous_status[invoice_id] = invoice["status"]
        invoice["status"], invoice["paid_status"] = "COMPLETED", "PAID"
        return
    if invoice["status"] == "COMPLETED":
        invoice["status"] = store.previous_status.pop(invoice_id, "SENT")
    invoice["paid_status"] = "UNPAID" if due == invoice["total"] else "PARTIALLY_PAID"


def _lines(store: Store, lines: list[Record]) -> list[Record]:
    next_id = max(
        (line["id"] for inv in store.invoices.values() for line in inv["items"]), default=0
    )
    out = []
    for line in lines:
        next_id += 1
        quantity = Decimal(str(line["quantity"]))  # a JSON number; never cents via float
        total = int((quantity * line["price"]).to_integral_value(ROUND_HALF_UP))
        out.append(
            {
                "id": next_id,
                "name": line["name"],
                "description": line.get("description"),
                "quantity": line["quantity"],
                "price": line["price"],
                "total": total,
            }
        )
    return out


def apply_write(store: Store, resource: str, fields: Record, existing: Record | None) -> Record:
    """Create (existing None) or update a record from validated fields; returns it."""
    table: dict[int, Record] = getattr(store, resource)
    now = store.tick()
    if "items" in fields:
        fields = {**fields, "items": _lines(store, fields["items"])}
    if existing is None:
        record_id = store.next_id(table)
        record = {"id": record_id, **fields}
        for key, value in _defaults(store, resource, record_id, fields).items():
            record.setdefault(key, value)
        record["created_at"] = now
        table[record_id] = record
    else:
        record = existing
    if resource == "payments" and existing is not None:
        old = store.invoices.get(existing["invoice_id"] or -1)
        if old is not None:
            old["due_amount"] += existing["amount"]
            settle(store, old)
    if resource == "invoices" and existing is not None:
        paid = existing["total"] - existing["due_amount"]
        fields["due_amount"] = fields["total"] - paid
    record.update(fields, updated_at=now)
    if resource == "invoices" and existing is not None:
        settle(store, record)
    if resource == "payments":
        record["base_amount"] = record["amount"]
        invoice = store.invoices.get(record["invoice_id"] or -1)
        if invoice is not None:
            record["currency_id"] = invoice["currency_id"]
            invoice["due_amount"] -= record["amount"]
            invoice["updated_at"] = now
            settle(store, invoice)
    if resource == "expenses":
        record["base_amount"] = record["amount"]
    return record


def _defaults(store: Store, resource: str, record_id: int, fields: Record) -> Record:
    customer = store.customers.get(fields.get("customer_id") or -1)
    currency_id = customer["currency_id"] if customer else 1
    if resource == "invoices":
        return {
            "id": record_id,
            "due_date": None,
            "reference_number": None,
            "status": "DRAFT",
            "paid_status": "UNPAID",
            "discount_type": "fixed",
            "due_amount": fields["total"],
            "currency_id": currency_id,
            "exchange_rate": 1,
            "creator_id": 1,
            "unique_hash": hashlib.sha256(f"invoice-{record_id}".encode()).hexdigest()[:20],
        }
    if resource == "estimates":
        return {
            "id": record_id,
            "expiry_date": None,
            "status": "DRAFT",
            "discount_type": "fixed",
            "currency_id": currency_id,
            "exchange_rate": 1,
            "creator_id": 1,
        }
    if resource == "payments":
        return {
            "id": record_id,
            "invoice_id": None,
            "payment_method_id": None,
            "notes": None,
            "currency_id": currency_id,
            "exchange_rate": 1,
            "creator_id": 1,
        }
    if resource == "customers":
        return {
            "id": record_id,
            "email": None,
            "phone": None,
            "contact_name": None,
            "company_name": None,
            "website": None,
            "currency_id": 1,
            "prefix": None,
            "company_id": 1,
            "creator_id": 1,
            "billing": None,
            "shipping": None,
        }
    if resource == "expenses":
        return {
            "id": record_id,
            "expense_number": f"EXP-{record_id:06d}",
            "customer_id": None,
            "payment_method_id": None,
            "notes": None,
            "exchange_rate": 1,
            "creator_id": 1,
        }
    return {
        "id": record_id,
        "description": None,
        "unit_id": None,
        "company_id": 1,
        "creator_id": 1,
        "currency_id": 1,
        "tax_per_item": None,
    }
