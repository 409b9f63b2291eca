"""Seeded MakersHub records: supplier bills of a small manufacturer, shaped as in seed 001.

Every record has exactly the fields of seed 001's `GET /v1/invoices/{invoiceId}` reply;
amounts are Python floats (or ints for whole quantities) so that they serialize as JSON
numbers in major units, as the real API sends them. Amounts are computed in Decimal first
so that line totals add up to `invoice_total` to the cent.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from gateway.simulators.base import SIM_NOW, SIM_TODAY

Record = dict[str, Any]

CENT = Decimal("0.01")
PLAIN_INVOICES = 60
GROUPS = 6
FIRST_ID = 48_213
HISTORY_DAYS = 545  # about 18 months before SIM_TODAY

BILL_TO = {
    "name": "Accounts Payable",
    "address": "2200 Foundry Way, Dayton, OH 45402",
    "memo": "Attn: Maria Gonzalez",
    "departmentId": "DEPT-100",
    "entityId": None,
}
SHIP_TO = (
    {"name": "Main Plant", "address": "2200 Foundry Way, Dayton, OH 45402"},
    {"name": "Warehouse B", "address": "18 Canal Street, Springfield, OH 45502"},
)
# Approver ids are an integer, or a list of integers for a group of approvers (seed 001).
CONTROLLER: Record = {"id": 17, "name": "David Chen"}
CFO: Record = {"id": 42, "name": "Maria Gonzalez"}
FINANCE_TEAM: Record = {"id": [58, 73], "name": "Finance Team"}
REJECT_NOTES = (
    "Prices do not match the purchase order",
    "Duplicate of an invoice already paid",
    "Goods not received yet",
    "Wrong bill-to entity",
)
TAGS = ("verified", "recurring", "rush", "capex", "maintenance", "needs-review")


@dataclass(frozen=True)
class Item:
    description: str
    sku: str
    low: int  # unit price range in whole dollars; cents are drawn separately
    high: int
    hourly: bool = False


@dataclass(frozen=True)
class Supplier:
    name: str
    domain: str
    phone: str
    address: str
    supplier_id: str | None
    number_format: str
    terms: str
    account_id: str
    catalog: tuple[Item, ...] = field(default_factory=tuple)

    def info(self) -> Record:
        info: Record = {
            "name": self.name,
            "web": f"https://{self.domain}",
            "email": f"billing@{self.domain}",
            "phone_number": self.phone,
            "address": self.address,
        }
        if self.supplier_id is not None:  # a few suppliers were never mapped (contract)
            info["supplierId"] = self.supplier_id
        return info


SUPPLIERS: tuple[Supplier, ...] = (
    Supplier(
        "Midwest Steel Supply Co.",
        "midweststeel.com",
        "+1-614-555-0142",
        "1450 Industrial Pkwy, Columbus, OH 43207",
        "SUP-001",
        "MSS-{n:05d}",
        "Net 30",
        "EXP-5010",
        (
            Item("Cold rolled steel sheet 16ga 4x8", "CRS-16-48", 88, 140),
            Item("A36 steel plate 1/4in 48x96", "A36-P025", 310, 460),
            Item("304 stainless round bar 1in x 12ft", "SS304-RB1", 120, 190),
        ),
    ),
    Supplier(
        "Pacific Coast Packaging",
        "pcpackaging.com",
        "+1-503-555-0187",
        "77 Harbor Rd, Portland, OR 97217",
        "SUP-002",
        "INV-{year}-{n:04d}",
        "Net 30",
        "EXP-5200",
        (
            Item("Corrugated shipping box 18x12x10 (bundle of 25)", "BOX-181210", 31, 46),
            Item("Stretch wrap 18in x 1500ft", "SW-18-1500", 19, 28),
            Item("Bubble cushioning roll 24in x 250ft", "BUB-24-250", 42, 61),
        ),
    ),
    Supplier(
        "Keystone Fasteners Inc.",
        "keystonefasteners.com",
        "+1-717-555-0110",
        "300 Market St, Harrisburg, PA 17101",
        "SUP-003",
        "{n:06d}",
        "Net 45",
        "EXP-5010",
        (
            Item("Hex bolt 3/8-16 x 1-1/2 zinc (box of 100)", "HB-3816-150", 14, 22),
            Item("Nylon lock nut 3/8-16 (box of 100)", "LN-3816", 8, 13),
            Item("Flat washer 3/8 SAE (box of 250)", "FW-38", 6, 11),
        ),
    ),
    Supplier(
        "Brightline Electric Components",
        "brightline-electric.com",
        "+1-312-555-0163",
        "910 W Fulton St, Chicago, IL 60607",
        "SUP-004",
        "BEC{n:05d}",
        "Net 30",
        "EXP-5030",
        (
            Item("THHN wire 12 AWG 500ft spool", "THHN-12-500", 79, 118),
            Item("DIN rail terminal block (pack of 50)", "DIN-TB-50", 36, 55),
            Item("24V DC power supply 10A", "PS-24-10", 64, 92),
        ),
    ),
    Supplier(
        "Atlas Freight Logistics",
        "atlasfreight.com",
        "+1-901-555-0175",
        "5 Airways Blvd, Memphis, TN 38116",
        "SUP-005",
        "AFL-{year}{n:05d}",
        "Net 15",
        "EXP-6100",
        (
            Item("LTL freight Dayton to Chicago", "LTL-DAY-CHI", 240, 520),
            Item("Fuel surcharge", "FSC", 18, 64),
            Item("Liftgate delivery", "LIFTGATE", 75, 95),
        ),
    ),
    Supplier(
        "Redwood Hardwoods LLC",
        "redwoodhardwoods.com",
        "+1-541-555-0129",
        "2100 Mill Rd, Eugene, OR 97402",
        None,
        "RH-{n:04d}",
        "Net 30",
        "EXP-5010",
        (
            Item("Black walnut 8/4 FAS (board feet)", "WAL-84-FAS", 12, 17),
            Item("Hard maple 4/4 select (board feet)", "MAP-44-SEL", 5, 8),
            Item("White oak 5/4 rift sawn (board feet)", "WO-54-RIFT", 9, 14),
        ),
    ),
    Supplier(
        "Harbor Machine Works",
        "harbormachine.com",
        "+1-216-555-0191",
        "44 Lakeside Ave, Cleveland, OH 44114",
        "SUP-007",
        "HMW-{year}-{n:03d}",
        "2/10 Net 30",
        "EXP-5400",
        (
            Item("CNC milling, 3-axis", "CNC-3AX", 95, 125, hourly=True),
            Item("Fixture design and programming", "ENG-FIX", 110, 145, hourly=True),
            Item("Anodizing, type II clear (lot)", "ANO-II", 180, 340),
        ),
    ),
    Supplier(
        "Evergreen Facility Services",
        "evergreenfacility.com",
        "+1-937-555-0104",
        "610 Brown St, Dayton, OH 45409",
        "SUP-008",
        "EFS-{n:05d}",
        "Due on receipt",
        "EXP-6300",
        (
            Item("Monthly janitorial service", "JAN-MONTHLY", 1450, 1650),
            Item("Floor scrub and seal, production area", "FLOOR-SEAL", 380, 520),
        ),
    ),
    Supplier(
        "Precision Laser Cutting Co.",
        "precisionlaser.co",
        "+1-513-555-0150",
        "1200 Spring Grove Ave, Cincinnati, OH 45214",
        "SUP-009",
        "PLC{n:06d}",
        "Net 30",
        "EXP-5400",
        (
            Item("Laser cutting, 0.125in mild steel (parts)", "LC-MS-125", 3, 9),
            Item("Press brake forming (parts)", "PB-FORM", 2, 6),
            Item("Setup charge", "SETUP", 85, 85),
        ),
    ),
    Supplier(
        "Lakeside Chemical & Coatings",
        "lakesidecoatings.com",
        "+1-414-555-0133",
        "3300 S Lake Dr, Milwaukee, WI 53207",
        None,
        "LCC-{n:05d}",
        "Net 45",
        "EXP-5020",
        (
            Item("Powder coat, RAL 9005 matte black (lb)", "PC-9005M", 7, 11),
            Item("Epoxy primer, gallon", "EP-PRIMER-G", 54, 79),
            Item("Solvent degreaser, 5 gal", "DEG-5G", 96, 130),
        ),
    ),
    Supplier(
        "Cascade Office Supply",
        "cascadeoffice.com",
        "+1-206-555-0168",
        "815 Pine St, Seattle, WA 98101",
        "SUP-011",
        "CO-{n:06d}",
        "Net 30",
        "EXP-6500",
        (
            Item("Copy paper, letter, case of 10 reams", "PAPER-LTR-10", 44, 58),
            Item("Toner cartridge, black, high yield", "TONER-BK-HY", 89, 132),
            Item("Shipping labels 4x6 (roll of 500)", "LBL-4X6-500", 16, 24),
        ),
    ),
    Supplier(
        "Ironbridge Tooling",
        "ironbridgetooling.com",
        "+1-248-555-0117",
        "27 Technology Dr, Troy, MI 48083",
        "SUP-012",
        "IBT-{year}-{n:04d}",
        "Net 30",
        "EXP-5300",
        (
            Item("Carbide end mill 1/2in 4-flute", "EM-050-4F", 38, 64),
            Item("Cobalt drill bit set, 29 pc", "DB-CO-29", 129, 175),
            Item("Indexable insert CNMG 432 (pack of 10)", "CNMG-432", 71, 96),
        ),
    ),
    Supplier(
        "Bluebird Print & Label",
        "bluebirdprint.com",
        "+1-317-555-0196",
        "402 Mass Ave, Indianapolis, IN 46204",
        None,
        "BPL-{n:05d}",
        "Net 15",
        "EXP-5200",
        (
            Item("Product labels, 2x3 matte (1000)", "LBL-2X3-M", 48, 66),
            Item("Assembly instructions, printed booklet", "BOOKLET-8P", 1, 2),
        ),
    ),
)


def money(value: Decimal) -> float:
    """A cent amount as the JSON number the API sends (shortest repr round-trips)."""
    return float(value.quantize(CENT, rounding=ROUND_HALF_UP))


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_hash(rng: random.Random) -> str:
    return f"{rng.getrandbits(48):012x}"


def due_date(issued: date, terms: str) -> date:
    days = 0 if terms == "Due on receipt" else int(terms.rsplit(" ", 1)[-1])
    return issued + timedelta(days=days)


def line_items(rng: random.Random, supplier: Supplier, po_number: str | None) -> list[Record]:
    chosen = rng.sample(supplier.catalog, rng.randint(1, len(supplier.catalog)))
    items: list[Record] = []
    for position, item in enumerate(chosen, start=1):
        qty: Decimal = (
            Decimal(rng.randint(4, 60)) / 2 if item.hourly else Decimal(rng.randint(1, 40))
        )
        cents = 0 if item.low == item.high else rng.choice((0, 25, 50, 95, 99, rng.randint(1, 99)))
        price = Decimal(rng.randint(item.low, item.high)) + Decimal(cents) / 100
        total = (qty * price).quantize(CENT, rounding=ROUND_HALF_UP)
        items.append(
            {
                "id": str(position),
                "qty": int(qty) if qty == qty.to_integral_value() else float(qty),
                "price": money(price),
                "total": money(total),
                "description": item.description,
                "sku": item.sku,
                "itemId": f"ITM-{item.sku}" if rng.random() < 0.5 else None,
                "customerId": None,
                "accountId": supplier.account_id,
                "classId": rng.choice(("CLASS-100", "CLASS-200", None)),
                "poId": po_number,
                "poLineId": f"{po_number}-{position}" if po_number else None,
                "billable": rng.random() < 0.2,
                "departmentId": rng.choice(("DEPT-100", "DEPT-300", None)),
                "entityId": None,
                "taxId": None,
                "taxInclusive": False,
            }
        )
    return items


def empty_item(values: Record) -> Record:
    """A line item with every field of seed 001, the missing ones null."""
    keys = (
        "id",
        "qty",
        "price",
        "total",
        "description",
        "sku",
        "itemId",
        "customerId",
        "accountId",
        "classId",
        "poId",
        "poLineId",
        "billable",
        "departmentId",
        "entityId",
        "taxId",
        "taxInclusive",
    )
    return {key: values.get(key) for key in keys}


def empty_invoice(invoice_id: int, hash_id: str, now: datetime) -> Record:
    """A record with every field of seed 001 and nothing filled in (an OCR job not done yet,
    or a structured create before its fields are applied)."""
    return {
        "id": invoice_id,
        "hash_id": hash_id,
        "parent_id": None,
        "supplier_info": {},
        "ship_to": {},
        "bill_to": {},
        "invoice_number": None,
        "po_number": None,
        "invoice_terms": None,
        "invoice_date": None,
        "invoice_due": None,
        "invoice_items": [],
        "invoice_total": None,
        "tags": None,
        "rejected": None,
        "approved": None,
        "approvers": [],
        "document": None,
        "modified": stamp(now),
        "created": stamp(now),
        "integration_id": None,
        "integration_api_id": None,
    }


class _Numbers:
    """Per-supplier invoice-number counters, so each supplier's numbers run in date order."""

    def __init__(self, rng: random.Random) -> None:
        self.next = {s.name: rng.randint(120, 9000) for s in SUPPLIERS}

    def take(self, supplier: Supplier, issued: date) -> str:
        n = self.next[supplier.name]
        self.next[supplier.name] = n + 1
        return supplier.number_format.format(n=n, year=issued.year)


def fill_invoice(
    record: Record,
    rng: random.Random,
    supplier: Supplier,
    number: str,
    issued: date,
    created: datetime,
) -> None:
    """Fill `record` with the document fields of a bill from `supplier` (pending approval)."""
    po_number = f"PO-{rng.randint(1000, 4999)}" if rng.random() < 0.6 else None
    items = line_items(rng, supplier, po_number)
    total = sum((Decimal(str(item["total"])) for item in items), Decimal(0))
    record.update(
        supplier_info=supplier.info(),
        ship_to=dict(rng.choice(SHIP_TO)),
        bill_to=dict(BILL_TO),
        invoice_number=number,
        po_number=po_number,
        invoice_terms=supplier.terms,
        invoice_date=issued.isoformat(),
        invoice_due=due_date(issued, supplier.terms).isoformat(),
        invoice_items=items,
        invoice_total=money(total),
        tags=",".join(sorted(rng.sample(TAGS, rng.randint(1, 2)))) if rng.random() < 0.6 else None,
        created=stamp(created),
        modified=stamp(created),
    )


def _decide(rng: random.Random, age_days: int) -> str:
    if age_days > 60:
        weights = (0.05, 0.85, 0.10)
    elif age_days > 14:
        weights = (0.30, 0.60, 0.10)
    else:
        weights = (0.80, 0.15, 0.05)
    return rng.choices(("pending", "approved", "rejected"), weights)[0]


def _apply_approval(record: Record, rng: random.Random, state: str, sync_id: int) -> None:
    """Approval workflow: one approver below $5,000, controller then CFO above (and the
    controller sometimes delegates to the finance team, a grouped approver)."""
    created = datetime.fromisoformat(record["created"])
    big = record["invoice_total"] is not None and record["invoice_total"] >= 5000
    chain = [CONTROLLER, CFO] if big else [rng.choice((CONTROLLER, FINANCE_TEAM))]
    moment = created
    approvers: list[Record] = []
    steps = {
        "pending": len(chain) - 1 if big and rng.random() < 0.5 else 0,
        "approved": len(chain),
        "rejected": len(chain) - 1,
    }[state]
    for person in chain[:steps]:
        moment = min(moment + timedelta(hours=rng.randint(3, 60)), SIM_NOW - timedelta(hours=1))
        approvers.append(
            {**person, "approved": stamp(moment), "rejected": None, "rejected_note": None}
        )
    if state == "rejected":
        moment = min(moment + timedelta(hours=rng.randint(3, 60)), SIM_NOW - timedelta(hours=1))
        approvers.append(
            {
                **chain[-1],
                "approved": None,
                "rejected": stamp(moment),
                "rejected_note": rng.choice(REJECT_NOTES),
            }
        )
        record["rejected"] = stamp(moment)
    elif state == "approved":
        record["approved"] = stamp(moment)
        if SIM_NOW - moment > timedelta(days=3):  # synced to the accounting system by now
            record["integration_id"] = 3
            record["integration_api_id"] = str(sync_id)
    record["approvers"] = approvers
    record["modified"] = stamp(moment)


@dataclass
class Seeded:
    invoices: dict[int, Record]
    groups: dict[int, list[int]]


def seed_invoices(rng: random.Random, count: int | None = None) -> Seeded:
    """60 plain bills and 6 grouped ones (2-4 children from one supplier each). Ids ascend
    with small gaps (records deleted upstream); a group's id follows its children's, since
    bills are combined after they arrive."""
    numbers = _Numbers(rng)
    # (created, kind, supplier, issue dates) in creation order; a group is combined after
    # its last child arrives, so its id comes after its children's.
    plans: list[tuple[datetime, str, Supplier, list[date]]] = []
    # `count` listed in all (`simulate --invoices N`): plain bills and the groups.
    plain = PLAIN_INVOICES if count is None else max(count - GROUPS, 0)
    for _ in range(plain):
        issued = SIM_TODAY - timedelta(days=rng.randint(1, HISTORY_DAYS))
        plans.append((_created(rng, issued), "plain", rng.choice(SUPPLIERS), [issued]))
    for _ in range(GROUPS):
        first = SIM_TODAY - timedelta(days=rng.randint(30, HISTORY_DAYS))
        dates = sorted(first + timedelta(days=rng.randint(0, 20)) for _ in range(rng.randint(2, 4)))
        plans.append((_created(rng, dates[-1]), "group", rng.choice(SUPPLIERS), dates))
    plans.sort(key=lambda plan: plan[0])

    invoices: dict[int, Record] = {}
    groups: dict[int, list[int]] = {}
    next_id = FIRST_ID
    sync_id = 1200
    for created, kind, supplier, dates in plans:
        children: list[int] = []
        state = _decide(rng, (SIM_TODAY - dates[-1]).days)
        for issued in dates:
            record = empty_invoice(next_id, new_hash(rng), created)
            if rng.random() < 0.85:  # the rest were keyed in by hand: no document
                record["document"] = {
                    "url": f"https://storage.makershub.ai/invoices/{new_hash(rng)}.pdf",
                    "name": f"invoice-{next_id}.pdf",
                    "size": rng.randint(40_000, 900_000),
                }
            fill_invoice(
                record,
                rng,
                supplier,
                numbers.take(supplier, issued),
                issued,
                _created(rng, issued) if kind == "group" else created,
            )
            sync_id += rng.randint(1, 9)
            _apply_approval(record, rng, state, sync_id)
            invoices[next_id] = record
            children.append(next_id)
            next_id += rng.randint(1, 4)
        if kind == "group":
            for child in children:
                invoices[child]["parent_id"] = next_id
            groups[next_id] = children
            next_id += rng.randint(1, 4)
    return Seeded(invoices, groups)


def _created(rng: random.Random, issued: date) -> datetime:
    moment = datetime.combine(issued + timedelta(days=rng.randint(0, 4)), time(8), tzinfo=UTC)
    moment += timedelta(minutes=rng.randint(0, 9 * 60))
    return min(moment, SIM_NOW - timedelta(hours=2))


def ocr_result(record: Record, rng: random.Random, now: datetime) -> None:
    """What OCR reads off a queued document: a recent bill from one of the suppliers."""
    supplier = rng.choice(SUPPLIERS)
    issued = SIM_TODAY - timedelta(days=rng.randint(0, 10))
    number = supplier.number_format.format(n=rng.randint(10_000, 99_999), year=issued.year)
    created = record["created"]
    fill_invoice(record, rng, supplier, number, issued, now)
    record["created"] = created
