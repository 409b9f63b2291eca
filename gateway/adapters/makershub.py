"""MakersHub: supplier bills under approval, read one id at a time.

Wire contract: `docs/upstreams/makershub.md` and seed 001. MakersHub has no list endpoint,
no customers and no payments; the vendor only exists embedded in each bill as
`supplier_info`. Invoices are read by id; lists come from the gateway's index of the ids
it has seen (lookups, its own creates, webhook events), kept in the state store.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from gateway.adapters import makershub_events
from gateway.adapters.base import (
    Adapter,
    Capability,
    Page,
    WebhookDelivery,
    WriteRules,
    error_message,
    error_object,
    gather_each,
    json_number,
    upstream_words,
)
from gateway.domain.events import InvoiceEvent, InvoiceEventType
from gateway.domain.inputs import DocumentDraft, InvoiceChanges, InvoiceDraft, LineDraft
from gateway.domain.lazy import LazyTuple
from gateway.domain.records import (
    Address,
    ApprovalStatus,
    Invoice,
    InvoiceQuery,
    InvoiceStatus,
    InvoiceType,
    LineItem,
    Money,
    Vendor,
    parse_utc,
)
from gateway.errors import (
    StateUnavailable,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamNotFound,
    UpstreamRejected,
    WriteRefused,
)
from gateway.source_config import SourceConfig
from gateway.upstream.client import ErrorDetail, SourceClient
from gateway.upstream.routes import IdShape

# Seed 001: `invoiceId` is an integer, minimum 1. The canonical decimal form only, so that
# the invoice returned always carries the id that was asked for.
_ID = re.compile(r"[1-9][0-9]{0,17}")
# Finding a create again: unknown ids in a row after which no later id is looked at, and
# the most ids read before giving up (the outcome then stays unknown).
PROBE_GAP = 25
PROBE_LIMIT = 500
logger = logging.getLogger("invoice_gateway.makershub")
# makershub.md: a 400's `msg` names the field first ("invoice_items[2].qty must be a number").
_FIELD_MESSAGE = re.compile(r"^(?P<field>[a-z_]+(?:\[\d+\])?(?:\.[A-Za-z_]+)?) (?:must|is) ")
# makershub.md (Assumed responses): the 400s that mean the record moved under us.
_CONFLICTS = ("Invoice has been modified", "Invoice is locked", "Invoice is being processed")


class MakersHubAdapter(Adapter):
    """Reads MakersHub bills by id (`GET /v1/invoices/{invoiceId}`).

    A plain invoice comes back as one element. A grouped (combined) invoice comes back as
    its children, each with `parent_id` = the requested id; it is synthesized as one
    `Invoice` with `remote_id` = the requested id and `grouped` = the normalized children:
    - `total` is the sum of the children's totals (None if any child has none);
    - `issue_date` and `due_date` are the earliest among the children (the first payment
      falls due then); `created_at` the earliest, `updated_at` the latest;
    - `number`, vendor, `purchase_order_number`, `terms`, status and approval status are
      the children's when they all agree; otherwise None (status UNKNOWN, raw "mixed");
    - `tags` is the union in order of appearance; `line_items` stay on the children (not
      repeated, so that summing line items over a group and its children never counts
      twice); `version` is None, as a group has no `hash_id` of its own;
    - `remote_data` is `{"result": [...]}`, the children as received.

    Status comes from the `approved` / `rejected` timestamps (there is no status word on
    the wire): neither is SUBMITTED / PENDING, `approved` is OPEN / APPROVED, `rejected` is
    VOID / REJECTED; `status_raw` is that derived word ("pending", "approved", "rejected").
    Both timestamps set is outside the contract: UNKNOWN, raw "approved,rejected".

    The vendor is `supplier_info`; its id is `supplierId` when present, else
    `name-<16 hex digits of sha256 of the case-folded, space-normalized name>`, stable across
    bills from the same supplier. The supplier's `address` is one free-text string on the
    wire and is kept whole as `Address.line1`.
    """

    kind = "makershub"
    capabilities = frozenset(
        {
            Capability.LIST_INVOICES,
            Capability.GET_INVOICE,
            Capability.RECEIVE_WEBHOOKS,
            Capability.CREATE_INVOICE,
            Capability.UPDATE_INVOICE,
            Capability.SUBMIT_DOCUMENT,
        }
    )
    # makershub.md: POST creates a bill (structured, or a document for OCR), PATCH updates
    # one with `hash_id` as the lock. No customers, payments, status writes or deletes; no
    # currency on the wire; lines carry no tax rate. The client sends the totals.
    write_rules = WriteRules(
        create_fields=frozenset({"type", "number", "vendor_id", "issue_date", "due_date",
                                 "purchase_order_number", "terms"}),
        create_types=frozenset({InvoiceType.PAYABLE}),
        update_fields=frozenset({"number", "issue_date", "due_date", "purchase_order_number",
                                 "terms", "line_items"}),
        line_fields=frozenset({"sku"}),
        locks_upstream=True,
    )
    wire_fields = {
        "invoice_items": "lineItems",
        "qty": "quantity",
        "price": "unitPrice",
        "description": "description",
        "sku": "sku",
        "invoice_number": "number",
        "po_number": "purchaseOrderNumber",
        "invoice_terms": "terms",
        "invoice_date": "issueDate",
        "invoice_due": "dueDate",
        "supplier_info": "vendorId",
        "data": "contentBase64",
        "filename": "filename",
        "type": "contentType",
    }
    # Each listed id is one GET, so pages are small: a short `first` reads few of them.
    page_size = 25
    lists_from_index = True  # MakersHub lists nothing (makershub.md)
    routes = frozenset({"/v1/invoices", "/v1/invoices/{id}"})
    # docs/upstreams/makershub.md: `invoiceId` is an integer >= 1.
    id_shape = IdShape.of(_ID.pattern, "MakersHub invoice ids are positive integers")

    @staticmethod
    def error_detail(body: bytes) -> ErrorDetail:
        # makershub.md: every reply is the `{"status", "msg", "result"}` envelope.
        data = error_object(body)
        return error_message(data.get("msg") or data.get("message")), {}

    def __init__(self, config: SourceConfig, client: SourceClient) -> None:
        super().__init__(config, client)
        # Ids this process already put in the index, so repeated lookups skip the store.
        self._indexed: set[int] = set()

    async def list_invoices(
        self, query: InvoiceQuery, page: int, size: int | None = None  # no windows
    ) -> Page[Invoice]:
        """A page of the gateway's index of this source, in id order, each id one GET.

        An indexed id the upstream no longer knows (deleted, no webhook heard) is skipped;
        a child of a group is skipped too, as the group is listed under its own id (and
        indexed whenever one of its children is seen). Any other failure fails the page.
        """
        if self.state is None:
            raise self.unsupported("list invoices without the gateway's state store")
        if query.type is InvoiceType.RECEIVABLE or query.customer_id is not None:
            return Page([], 0, False)  # payables only, no customers
        if query.overdue:
            return Page([], 0, False)  # it marks no invoice overdue (isOverdue is false)
        size = self.page_size
        try:
            ids = await self.state.index_page(self.name, page * size, size)
            count = await self.state.index_count(self.name)
        except StateUnavailable as exc:
            raise exc.for_source(self.name) from None
        self._indexed.update(ids)
        found = await gather_each([str(i) for i in ids], self._fetch)
        items: list[Invoice] = []
        parents: list[int] = []
        for result in found:
            if isinstance(result, UpstreamNotFound):
                continue
            if isinstance(result, UpstreamError):
                raise result
            invoice, parent = result
            if parent is None:
                items.append(invoice)
            else:
                parents.append(parent)
        await self._remember(parents)
        # The exact total is unknown (children and stale ids are skipped) unless empty.
        return Page(items, 0 if count == 0 else None, (page + 1) * size < count)

    async def get_invoice(self, remote_id: str) -> Invoice:
        invoice, parent = await self._fetch(remote_id)
        await self._remember([parent if parent is not None else int(remote_id)])
        return invoice

    async def get_invoices(self, remote_ids: Sequence[str]) -> list[Invoice | UpstreamError]:
        found = await gather_each(remote_ids, self._fetch)
        seen = [
            result[1] if result[1] is not None else int(result[0].remote_id)
            for result in found if not isinstance(result, UpstreamError)
        ]
        await self._remember(seen)
        return [result if isinstance(result, UpstreamError) else result[0] for result in found]

    async def _remember(self, remote_ids: Sequence[int], strict: bool = False) -> None:
        """Index ids seen in lookups (a child's group instead of the child); `strict`
        (an event) fails when the store does, else the ids are indexed when next seen."""
        new = set(remote_ids) - self._indexed
        if new and self.state is not None:
            try:
                await self.state.index_add(self.name, sorted(new))
            except StateUnavailable as exc:
                if strict:
                    raise exc.for_source(self.name) from None
                # A lookup needs no state: it is answered, and the ids join the index the
                # next time they are seen.
                logger.warning("%s: ids not indexed (%s)", self.name, exc)
                return
            self._indexed.update(new)

    async def on_event(self, event: InvoiceEvent) -> None:
        """Keep the index: a deleted or merged-away id leaves it, any other id joins it."""
        if self.state is None or not _ID.fullmatch(event.remote_id):
            return
        remote_id = int(event.remote_id)
        if event.type is InvoiceEventType.DELETED:
            await self.state.index_remove(self.name, [remote_id])
            self._indexed.discard(remote_id)
        else:
            await self._remember([remote_id], strict=True)

    def read_webhook(
        self, headers: Mapping[str, str], body: bytes, now: float
    ) -> WebhookDelivery:
        self.check_signature("X-Signature", headers, body)
        events, signed_at = makershub_events.parse_events(self.name, body)
        return WebhookDelivery(events, signed_at)

    async def _fetch(self, remote_id: str) -> tuple[Invoice, int | None]:
        """The invoice, and the id of its group when it is a child fetched by its own id."""
        reply = await self.client.get_json("/v1/invoices/{id}", id=remote_id)
        where = f"GET /v1/invoices/{remote_id}"
        records = _result(self.name, where, reply)
        requested = int(remote_id)
        ids = [_Reader(self.name, where, record).integer("id") for record in records]
        if len(records) == 1 and ids[0] == requested:
            parent = _Reader(self.name, where, records[0]).optional("parent_id", int)
            return self._invoice(records[0], where), (parent if parent != requested else None)
        parents = [_Reader(self.name, where, r).optional("parent_id", int) for r in records]
        if records and all(parent == requested for parent in parents):
            children = [self._invoice(record, where) for record in records]
            return self._group(remote_id, children, records), None
        raise UpstreamBadResponse(
            self.name,
            f"{where}: result holds ids {ids[:10]}, neither invoice {remote_id} nor its "
            "grouped children",
        )

    # --- writes -----------------------------------------------------------------------
    async def create_invoice(self, draft: InvoiceDraft, key: str | None) -> Invoice:
        body = _fields(draft.number, draft.issue_date, draft.due_date,
                       draft.purchase_order_number, draft.terms, draft.line_items)
        if draft.vendor_id is not None:
            if draft.vendor_id.startswith("name-"):
                raise WriteRefused.one(
                    "VALIDATION_FAILED", "this vendor has no MakersHub supplierId (it is "
                    "known by name only), so a bill cannot name it", "vendorId")
            body["supplier_info"] = {"supplierId": draft.vendor_id}
        if key is not None:
            body["tags"] = key  # the gateway's reference (docs/writes.md)
        return await self._one_written("POST", "/v1/invoices", body)

    async def find_invoice(self, draft: InvoiceDraft, reference: str) -> Invoice | None:
        """The invoice tagged with the reference. MakersHub lists nothing: the ids after
        the highest the index holds are read one by one (ids are assigned in increasing
        order, Assumed) until `PROBE_GAP` in a row are unknown, which proves none."""
        if self.state is None:
            raise self.unsupported("find a created invoice without the gateway's state store")
        try:
            count = await self.state.index_count(self.name)
            last = await self.state.index_page(self.name, count - 1, 1) if count else []
        except StateUnavailable as exc:
            raise exc.for_source(self.name) from None
        if not last:
            raise self.unsupported("find a created invoice before any id is indexed")
        self.client.cache.clear()
        remote_id, misses = last[0], 0
        for _ in range(PROBE_LIMIT):
            if misses >= PROBE_GAP:
                return None
            remote_id += 1
            try:
                invoice = await self.get_invoice(str(remote_id))
            except UpstreamNotFound:
                misses += 1
                continue
            misses = 0
            if reference in invoice.tags:
                return invoice
        raise self.unsupported(f"find a created invoice within {PROBE_LIMIT} ids of the index")

    async def update_invoice(
        self, current: Invoice, changes: InvoiceChanges, version: str | None
    ) -> Invoice:
        body = _fields(changes.number, changes.issue_date, changes.due_date,
                       changes.purchase_order_number, changes.terms, changes.line_items)
        # The lock is MakersHub's own: the version given, else the hash just read.
        body["hash_id"] = version if version is not None else current.version
        return await self._one_written("PATCH", "/v1/invoices/{id}", body, current.remote_id)

    async def submit_document(self, draft: DocumentDraft, key: str | None) -> Invoice:
        body = {"data": draft.content_base64, "filename": draft.filename,
                "type": draft.content_type or "application/pdf"}
        where = "POST /v1/invoices (document)"
        records = _result(self.name, where, await self.client.send_json("POST", "/v1/invoices",
                                                                         body))
        if len(records) != 1:
            raise UpstreamBadResponse(self.name, f"{where}: expected one queued id")
        new_id = _Reader(self.name, where, records[0]).integer("id")
        # makershub.md: a GET of the new id returns the invoice, empty until OCR is done.
        return await self.get_invoice(str(new_id))

    async def _one_written(
        self, method: str, path: str, body: dict[str, Any], remote_id: str | None = None
    ) -> Invoice:
        where = f"{method} {path}"
        reply = await (self.client.send_json(method, path, body) if remote_id is None else
                       self.client.send_json(method, path, body, id=remote_id))
        records = _result(self.name, where, reply)
        if len(records) != 1:
            raise UpstreamBadResponse(self.name, f"{where}: expected one invoice in 'result'")
        return self._invoice(records[0], where)

    def refused_fields(self, exc: UpstreamRejected) -> dict[str, list[str]]:
        words = upstream_words(exc)
        match = _FIELD_MESSAGE.match(words)
        return {match["field"]: [words]} if match else {}

    def is_conflict(self, exc: UpstreamRejected) -> bool:
        return upstream_words(exc) in _CONFLICTS

    async def check(self) -> None:
        # No health or list endpoint: id 0 is refused with 400 "Invalid invoice ID" only
        # after the token was accepted (a bad token is a 401), which proves both.
        try:
            await self.client.get_json("/v1/invoices/0")
        except UpstreamRejected as exc:
            if exc.status == 400 and "Invalid invoice ID" in exc.message:
                return
            raise

    # --- normalization --------------------------------------------------------------
    def _invoice(self, record: dict[str, Any], where: str) -> Invoice:
        fields = _Reader(self.name, f"{where}: invoice {record.get('id')}", record)
        currency = self.config.currency  # no currency on the wire (contract)
        status, raw, approval = _status(
            fields.timestamp("approved", required=False),
            fields.timestamp("rejected", required=False),
        )
        info = fields.optional("supplier_info", dict)
        vendor = self._vendor(fields.nested("supplier_info", info) if info else None)
        lines = fields.array("invoice_items")
        items = LazyTuple(range(len(lines)), lambda index: self._line_item(
            fields.nested(f"invoice_items[{index}]", lines[index]), currency))
        tags = fields.optional("tags", str)
        return Invoice(
            source=self.name,
            remote_id=str(fields.integer("id")),
            type=InvoiceType.PAYABLE,
            number=fields.optional("invoice_number", str),
            status=status,
            status_raw=raw,
            currency=currency,
            issue_date=fields.day("invoice_date"),
            due_date=fields.day("invoice_due"),
            approval_status=approval,
            total=fields.money("invoice_total", currency),
            vendor_id=vendor.remote_id if vendor else None,
            vendor_snapshot=vendor,
            line_items=items,
            purchase_order_number=fields.optional("po_number", str),
            terms=fields.optional("invoice_terms", str),
            tags=tuple(tag.strip() for tag in (tags or "").split(",") if tag.strip()),
            version=fields.required("hash_id", str),
            created_at=fields.timestamp("created"),
            updated_at=fields.timestamp("modified"),
            remote_data=record,
        )

    def _line_item(self, fields: _Reader, currency: str) -> LineItem:
        return LineItem(
            id=fields.required("id", str),
            description=fields.optional("description", str),
            sku=fields.optional("sku", str),
            quantity=fields.number("qty"),
            unit_price=fields.money("price", currency),
            total=fields.money("total", currency),
        )

    def _vendor(self, fields: _Reader | None) -> Vendor | None:
        if fields is None:
            return None  # an OCR job not processed yet has an empty supplier_info
        name = fields.optional("name", str)
        remote_id = fields.optional("supplierId", str) or _derived_vendor_id(name)
        if remote_id is None:
            return None
        address = fields.optional("address", str)
        return Vendor(
            source=self.name,
            remote_id=remote_id,
            name=name,
            email=fields.optional("email", str),
            phone=fields.optional("phone_number", str),
            address=Address(line1=address) if address else None,
            remote_data=dict(fields.data),
        )

    def _group(
        self, remote_id: str, children: Sequence[Invoice], records: list[dict[str, Any]]
    ) -> Invoice:
        totals = [child.total for child in children]
        total: Money | None = None
        if all(t is not None for t in totals):
            total = Money.of(sum((t.amount for t in totals if t), Decimal(0)), self.config.currency)
        status = _common([c.status for c in children])
        vendor = _common([c.vendor_snapshot for c in children])
        return Invoice(
            source=self.name,
            remote_id=remote_id,
            type=InvoiceType.PAYABLE,
            number=_common([c.number for c in children]),
            status=status or InvoiceStatus.UNKNOWN,
            status_raw=_common([c.status_raw for c in children]) or "mixed",
            currency=self.config.currency,
            issue_date=_earliest([c.issue_date for c in children]),
            due_date=_earliest([c.due_date for c in children]),
            approval_status=_common([c.approval_status for c in children]),
            total=total,
            vendor_id=vendor.remote_id if vendor else None,
            vendor_snapshot=vendor,
            grouped=tuple(children),
            purchase_order_number=_common([c.purchase_order_number for c in children]),
            terms=_common([c.terms for c in children]),
            tags=tuple(dict.fromkeys(tag for c in children for tag in c.tags)),
            created_at=_earliest([c.created_at for c in children]),
            updated_at=max((c.updated_at for c in children if c.updated_at), default=None),
            remote_data={"result": records},
        )


def _fields(
    number: str | None,
    issued: date | None,
    due: date | None,
    po_number: str | None,
    terms: str | None,
    lines: Sequence[LineDraft] | None,
) -> dict[str, Any]:
    """The PATCH/POST fields given (makershub.md names); omitted fields stay as they are."""
    body: dict[str, Any] = {}
    for name, value in (("invoice_number", number), ("po_number", po_number),
                        ("invoice_terms", terms)):
        if value is not None:
            body[name] = value
    if issued is not None:
        body["invoice_date"] = issued.isoformat()
    if due is not None:
        body["invoice_due"] = due.isoformat()
    if lines is not None:
        # Each line sent must carry id, qty, price, total and description (makershub.md);
        # MakersHub does not compute totals, so they go as round2(qty x price) and their sum.
        items = []
        for position, line in enumerate(lines, start=1):
            total = (line.quantity * line.unit_price).quantize(Decimal("0.01"), ROUND_HALF_UP)
            item: dict[str, Any] = {
                "id": str(position),
                "qty": json_number(line.quantity),
                "price": json_number(line.unit_price),
                "total": json_number(total),
                "description": line.description,
            }
            if line.sku is not None:
                item["sku"] = line.sku
            items.append((item, total))
        body["invoice_items"] = [item for item, _ in items]
        body["invoice_total"] = json_number(sum((t for _, t in items), Decimal(0)))
    return body


def _status(
    approved: datetime | None, rejected: datetime | None
) -> tuple[InvoiceStatus, str, ApprovalStatus | None]:
    # Contract status table: neither -> SUBMITTED, approved -> OPEN, rejected -> VOID.
    if approved is not None and rejected is not None:
        return InvoiceStatus.UNKNOWN, "approved,rejected", None
    if approved is not None:
        return InvoiceStatus.OPEN, "approved", ApprovalStatus.APPROVED
    if rejected is not None:
        return InvoiceStatus.VOID, "rejected", ApprovalStatus.REJECTED
    return InvoiceStatus.SUBMITTED, "pending", ApprovalStatus.PENDING


def _derived_vendor_id(name: str | None) -> str | None:
    if not name or not name.strip():
        return None
    normalized = " ".join(name.split()).casefold()
    return "name-" + hashlib.sha256(normalized.encode()).hexdigest()[:16]


def _common(values: Sequence[Any]) -> Any:
    """The value every element shares, else None (a Vendor compares without remote_data)."""
    first = values[0] if values else None
    return first if all(value == first for value in values) else None


def _earliest(values: Sequence[Any]) -> Any:
    present = [value for value in values if value is not None]
    return min(present) if present else None


def _result(source: str, where: str, body: Any) -> list[dict[str, Any]]:
    """The `result` array of the `{"status","msg","result"}` envelope (contract)."""
    if not isinstance(body, dict) or body.get("status") != "OK":
        raise UpstreamBadResponse(source, f"{where}: reply is not an OK envelope")
    result = body.get("result")
    if not isinstance(result, list) or not all(isinstance(r, dict) for r in result):
        raise UpstreamBadResponse(source, f"{where}: field 'result' is not an array of objects")
    return result


_Kind = type[Any] | tuple[type[Any], ...]


@dataclass(frozen=True)
class _Reader:
    """Typed access to one wire object; a missing or mistyped field is an
    `UpstreamBadResponse` that names it, never a KeyError or TypeError."""

    source: str
    where: str
    data: Mapping[str, Any]
    prefix: str = ""

    def _bad(self, key: str, problem: str) -> UpstreamBadResponse:
        return UpstreamBadResponse(
            self.source, f"{self.where}: field '{self.prefix}{key}' {problem}"
        )

    def required(self, key: str, kind: _Kind) -> Any:
        if key not in self.data or self.data[key] is None:
            raise self._bad(key, "is missing")
        return self.optional(key, kind)

    def optional(self, key: str, kind: _Kind) -> Any:
        value = self.data.get(key)
        # bool is an int in Python, never a number in the wire contract.
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise self._bad(key, f"must be {names}, got {type(value).__name__}")
        return value

    def integer(self, key: str) -> int:
        value: int = self.required(key, int)
        return value

    def number(self, key: str) -> Decimal | None:
        value = self.optional(key, (int, float))
        # JSON numbers arrive as floats; str() of a float is its shortest round-trip repr,
        # so Decimal(str(49.99)) == Decimal("49.99") exactly, where Decimal(49.99) is not.
        return None if value is None else Decimal(str(value))

    def money(self, key: str, currency: str) -> Money | None:
        amount = self.number(key)
        return None if amount is None else Money.of(amount, currency)

    def day(self, key: str) -> date | None:
        value = self.optional(key, str)
        if value is None:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise self._bad(key, f"is not a YYYY-MM-DD date: {value[:40]!r}") from None

    def timestamp(self, key: str, required: bool = True) -> datetime | None:
        value = self.required(key, str) if required else self.optional(key, str)
        if value is None:
            return None
        # Seed 000 gives timestamps as `2024-01-15T10:30:00Z`; one without an offset is
        # taken as UTC.
        try:
            return parse_utc(value)
        except ValueError:
            raise self._bad(key, f"is not an ISO 8601 timestamp: {value[:40]!r}") from None

    def array(self, key: str) -> list[Any]:
        value: list[Any] = self.required(key, list)
        return value

    def nested(self, key: str, value: Any) -> _Reader:
        if not isinstance(value, dict):
            raise self._bad(key, "must be an object")
        return _Reader(self.source, self.where, value, f"{self.prefix}{key}.")
