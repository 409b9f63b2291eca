"""Cloud Billing: receivable invoices and customers of one workspace (tenant).

Wire contract: `docs/upstreams/cloudbilling.md` (seed 004). Every request carries
the Supabase JWT and `x-tenant-slug`. Lists are read with `limit=100&offset=N*100`, in the
upstream's order (Assumed: `created_at` ascending, then `id`), so gateway page N is
upstream offset N*100 exactly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import field_validator

from gateway.adapters.base import (
    Adapter,
    Capability,
    Page,
    WriteRules,
    error_message,
    error_object,
    json_number,
    read_all_pages,
    upstream_words,
)
from gateway.domain.inputs import CustomerDraft, InvoiceChanges, InvoiceDraft, LineDraft
from gateway.domain.lazy import LazyTuple
from gateway.domain.records import (
    Customer,
    Invoice,
    InvoiceQuery,
    InvoiceStatus,
    InvoiceType,
    LineItem,
    Money,
)
from gateway.errors import (
    UpstreamBadResponse,
    UpstreamError,
    UpstreamNotFound,
    UpstreamRejected,
    UpstreamUnsupported,
)
from gateway.source_config import KindSettings, SourceConfig
from gateway.upstream.client import ErrorDetail
from gateway.upstream.routes import IdShape
from gateway.upstream.scope import mark_bulk

JSON = dict[str, Any]

STATUSES: dict[str, InvoiceStatus] = {
    "draft": InvoiceStatus.DRAFT,
    "issued": InvoiceStatus.OPEN,
    "paid": InvoiceStatus.PAID,
    "void": InvoiceStatus.VOID,
}
WIRE_STATUSES: dict[InvoiceStatus, str] = {unified: raw for raw, unified in STATUSES.items()}
CENT = Decimal("0.01")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Above this many ids, reading the customer list (100 per request) beats single GETs.
LIST_READ_THRESHOLD = 3
# Cloud Billing's 4xx bodies carry one message that starts with the field it is about
# ("lines[2].quantity: must be > 0"); the simulator and cloudbilling.md agree on that form.
_FIELD_MESSAGE = re.compile(r"^(?P<field>[a-z_]+(?:\[\d+\])?(?:\.[a-z_]+)?): (?P<text>.+)$")


class CloudBillingSettings(KindSettings):
    """A Cloud Billing source's own key: the workspace it reads (sent as `x-tenant-slug`)."""

    tenant_slug: str

    @field_validator("tenant_slug")
    @classmethod
    def _given(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("required for cloudbilling")
        return value


class CloudBillingAdapter(Adapter):
    """Invoices and customers of the configured tenant, each list in the upstream's order:
    `created_at` ascending, then `id`."""

    kind = "cloudbilling"
    settings_model = CloudBillingSettings
    capabilities = frozenset(
        {
            Capability.LIST_INVOICES,
            Capability.GET_INVOICE,
            Capability.LIST_CUSTOMERS,
            Capability.GET_CUSTOMER,
            Capability.CREATE_INVOICE,
            Capability.UPDATE_INVOICE,
            Capability.SET_INVOICE_STATUS,
            Capability.DELETE_INVOICE,
            Capability.CREATE_CUSTOMER,
            Capability.UPDATE_CUSTOMER,
        }
    )
    # cloudbilling.md: POST /invoices takes number, currency, dates, customer, status and
    # lines; PATCH edits only the lines of a draft, or moves draft -> issued -> paid.
    write_rules = WriteRules(
        create_fields=frozenset(
            {"type", "number", "customer_id", "issue_date", "due_date", "currency", "status"}
        ),
        create_types=frozenset({InvoiceType.RECEIVABLE}),
        create_statuses=frozenset({InvoiceStatus.DRAFT, InvoiceStatus.OPEN}),
        update_fields=frozenset({"line_items"}),
        line_fields=frozenset({"tax_rate"}),
        target_statuses=frozenset({InvoiceStatus.OPEN, InvoiceStatus.PAID}),
        customer_fields=frozenset({"name", "email"}),
    )
    wire_fields = {
        "lines": "lineItems",
        "description": "description",
        "quantity": "quantity",
        "unit_price": "unitPrice",
        "tax_rate": "taxRate",
        "customer_id": "customerId",
        "status": "status",
        "issue_date": "issueDate",
        "due_date": "dueDate",
        "currency": "currency",
        "number": "number",
        "name": "name",
        "email": "email",
    }
    page_size = 100
    # `limit` takes 1 to 100 (docs/upstreams/cloudbilling.md): a page serving few invoices
    # reads the smallest of these windows that holds them (gateway.lists.paging).
    window_sizes = (10, 20, 25, 50)
    routes = frozenset({"/invoices", "/invoices/{id}", "/customers", "/customers/{id}"})
    # docs/upstreams/cloudbilling.md: customers and invoices are identified by UUIDs.
    id_shape = IdShape.of(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                          r"[0-9a-fA-F]{12}", "Cloud Billing ids are UUIDs")

    @classmethod
    def headers(cls, config: SourceConfig) -> dict[str, str]:
        tenant = config.settings_as(CloudBillingSettings).tenant_slug
        return {**super().headers(config), "x-tenant-slug": tenant}

    @staticmethod
    def error_detail(body: bytes) -> ErrorDetail:
        # cloudbilling.md "Errors": {"error": {"code": "<code>", "message": "<text>"}}.
        data = error_object(body)
        error = data.get("error")
        if isinstance(error, dict):
            return error_message(error.get("message") or error.get("code")), {}
        return error_message(data.get("message")), {}

    # --- invoices -------------------------------------------------------------------
    async def list_invoices(
        self, query: InvoiceQuery, page: int, size: int | None = None
    ) -> Page[Invoice]:
        pushed = self._pushed_down(query)
        if pushed is None:
            return Page([], 0, False)
        statuses, exact = pushed
        limit = size or self.page_size
        params = [("limit", limit), ("offset", page * limit), *statuses]

        def normalize(body: Any) -> Page[Invoice]:
            records, total, has_more = self._page_of(body, "GET /invoices", page, limit)
            return Page.lazy(records, self._invoice, total if exact else None, has_more)

        return await self.read("/invoices", params, normalize, variant=exact)

    def lists_exactly(self, query: InvoiceQuery) -> bool:
        pushed = self._pushed_down(query)
        return pushed is not None and pushed[1]

    def _pushed_down(
        self, query: InvoiceQuery
    ) -> tuple[list[tuple[str, str | int]], bool] | None:
        """The `status` parameters of an invoice list, and whether they are the whole query
        (the upstream's pages then hold matching invoices only); None for a query no
        invoice here can match."""
        if query.type is InvoiceType.PAYABLE or query.vendor_id is not None:
            return None  # every Cloud Billing invoice is a receivable
        if query.overdue:
            return None  # it marks no invoice overdue (isOverdue is false)
        params: list[tuple[str, str | int]] = []
        statuses = query.statuses
        if statuses is not None and InvoiceStatus.UNKNOWN not in statuses:
            # SUBMITTED and PARTIALLY_PAID have no Cloud Billing counterpart: never match.
            wire = sorted(WIRE_STATUSES[s] for s in statuses if s in WIRE_STATUSES)
            if not wire:
                return None
            params += [("status", word) for word in wire]
        # An UNKNOWN status in the query is left to the gateway: only an undocumented
        # upstream word maps to it, and no `status` value selects those.
        exact = (
            query.issued_from is None
            and query.issued_to is None
            and query.customer_id is None
            and (statuses is None or InvoiceStatus.UNKNOWN not in statuses)
            and not query.filters_beyond(("overdue",))  # the list filters by status alone
        )
        return params, exact

    def list_position(self, invoice: Invoice) -> tuple[int | str, ...]:
        # cloudbilling.md (Assumed): lists run by `created_at` ascending, then `id`.
        created = invoice.created_at
        micros = (created - _EPOCH) // timedelta(microseconds=1) if created else -1
        return (micros, invoice.remote_id)

    async def get_invoice(self, remote_id: str) -> Invoice:
        return await self.read(
            "/invoices/{id}", None,
            lambda body: self._invoice(self._single(body, "GET /invoices/{id}")), id=remote_id,
        )

    # --- customers ------------------------------------------------------------------
    async def list_customers(self, page: int) -> Page[Customer]:
        params = [("limit", self.page_size), ("offset", page * self.page_size)]

        def normalize(body: Any) -> Page[Customer]:
            records, total, has_more = self._page_of(body, "GET /customers", page)
            return Page.lazy(records, self._customer, total, has_more)

        return await self.read("/customers", params, normalize)

    async def get_customer(self, remote_id: str) -> Customer:
        return await self.read(
            "/customers/{id}", None,
            lambda body: self._customer(self._single(body, "GET /customers/{id}")),
            id=remote_id,
        )

    async def get_customers(self, remote_ids: Sequence[str]) -> list[Customer | UpstreamError]:
        """Single GETs for a few ids; past `LIST_READ_THRESHOLD` distinct ids, the whole
        customer list (one request per 100 customers) is cheaper."""
        if len(set(remote_ids)) <= LIST_READ_THRESHOLD:
            return await super().get_customers(remote_ids)
        by_id = {
            customer.remote_id: customer for customer in await read_all_pages(self.list_customers)
        }
        return [
            by_id.get(remote_id)
            or UpstreamNotFound(self.name, f"customer {remote_id} not found", status=404)
            for remote_id in remote_ids
        ]

    # --- health ---------------------------------------------------------------------
    async def check(self) -> None:
        await self.client.get_json("/customers", {"limit": 1})

    # --- writes -----------------------------------------------------------------------
    async def create_invoice(self, draft: InvoiceDraft, key: str | None) -> Invoice:
        body: JSON = {"customer_id": draft.customer_id, "lines": _lines(draft.line_items)}
        if draft.status is not None:
            body["status"] = WIRE_STATUSES[draft.status]
        if draft.number is not None:
            body["number"] = draft.number
        elif key is not None:
            # Cloud Billing stores nothing else of the gateway's: a keyed create without a
            # number carries the gateway's reference as its number (docs/writes.md).
            body["number"] = key
        if draft.currency is not None:
            body["currency"] = draft.currency.upper()
        if draft.issue_date is not None:
            body["issue_date"] = draft.issue_date.isoformat()
        if draft.due_date is not None:
            body["due_date"] = draft.due_date.isoformat()
        reply = await self.client.send_json("POST", "/invoices", body)
        return self._invoice(self._single(reply, "POST /invoices"))

    async def find_invoice(self, draft: InvoiceDraft, reference: str) -> Invoice | None:
        """The invoice numbered as the create sent it (the client's number, else the
        reference) for the same customer. No filter takes a number, so the list is read
        from its end (newest last) to its start; a full read without it proves none."""
        number = draft.number if draft.number is not None else reference
        self.client.cache.clear()  # the upstream as it is now
        # A walk, not reads to serve again: kept in the read cache (up to `stale_ttl`),
        # its pages were a copy of the whole list, and RSS grew with the upstream's data.
        mark_bulk()
        first = await self.client.get_json("/invoices", {"limit": self.page_size, "offset": 0})
        _, total, _ = self._page_of(first, "GET /invoices", 0)
        if total is None:
            raise UpstreamUnsupported(self.name, "GET /invoices answers no meta.total, so "
                                      "a created invoice cannot be looked for")
        offset = max(0, total - self.page_size)
        while True:
            body = first if offset == 0 else await self.client.get_json(
                "/invoices", {"limit": self.page_size, "offset": offset})
            records, _, _ = self._page_of(body, "GET /invoices", 0)
            for record in reversed(records):
                if record.get("number") == number and (
                    record.get("customer_id") == draft.customer_id
                ):
                    return self._invoice(record)
            if offset == 0:
                return None
            offset = max(0, offset - self.page_size)

    async def update_invoice(
        self, current: Invoice, changes: InvoiceChanges, version: str | None
    ) -> Invoice:
        # write_rules allow only the lines here: PATCH `lines[]` replaces them all.
        return await self._patch(current.remote_id, {"lines": _lines(changes.line_items or ())})

    async def set_invoice_status(
        self, current: Invoice, status: InvoiceStatus, version: str | None
    ) -> Invoice:
        return await self._patch(current.remote_id, {"status": WIRE_STATUSES[status]})

    async def delete_invoice(self, current: Invoice) -> None:
        await self.client.send_json("DELETE", "/invoices/{id}", id=current.remote_id)

    async def create_customer(self, draft: CustomerDraft, key: str | None) -> Customer:
        body = {"name": draft.name, "email": draft.email}
        reply = await self.client.send_json("POST", "/customers", body)
        return self._customer(self._single(reply, "POST /customers"))

    async def update_customer(self, current: Customer, draft: CustomerDraft) -> Customer:
        body = {name: value for name, value in (("name", draft.name), ("email", draft.email))
                if value is not None}
        reply = await self.client.send_json("PATCH", "/customers/{id}", body, id=current.remote_id)
        return self._customer(self._single(reply, "PATCH /customers/{id}"))

    async def _patch(self, remote_id: str, body: JSON) -> Invoice:
        reply = await self.client.send_json("PATCH", "/invoices/{id}", body, id=remote_id)
        return self._invoice(self._single(reply, "PATCH /invoices/{id}"))

    def refused_fields(self, exc: UpstreamRejected) -> dict[str, list[str]]:
        match = _FIELD_MESSAGE.match(upstream_words(exc))
        return {match["field"]: [match["text"]]} if match else {}

    # --- normalization --------------------------------------------------------------
    def _bad(self, message: str) -> UpstreamBadResponse:
        return UpstreamBadResponse(self.name, message)

    def _page_of(
        self, body: Any, where: str, page: int, size: int | None = None
    ) -> tuple[list[JSON], int | None, bool]:
        size = size or self.page_size
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise self._bad(f"{where}: reply has no 'data' array")
        records = body["data"]
        if not all(isinstance(record, dict) for record in records):
            raise self._bad(f"{where}: 'data' holds a non-object")
        meta = body.get("meta")
        total = meta.get("total") if isinstance(meta, dict) else None
        if not isinstance(total, int) or isinstance(total, bool):
            # `meta.total` is Assumed, not documented: without it, a full page means more.
            return records, None, len(records) == size
        return records, total, (page + 1) * size < total

    def _single(self, body: Any, where: str) -> JSON:
        if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            raise self._bad(f"{where}: reply has no 'data' object")
        data: JSON = body["data"]
        return data

    def _invoice(self, record: JSON) -> Invoice:
        remote_id = _str(self, record, "id", "invoice")
        where = f"invoice {remote_id}"
        currency = _str(self, record, "currency", where).upper()
        status_raw = _str(self, record, "status", where)
        status = STATUSES.get(status_raw, InvoiceStatus.UNKNOWN)
        total = self._money(record, "total", currency, where)
        snapshot = record.get("customer")
        lines = record.get("lines")
        if not isinstance(lines, list):
            raise self._bad(f"{where}: field 'lines' must be an array")
        if snapshot is not None and not isinstance(snapshot, dict):
            raise self._bad(f"{where}: field 'customer' must be an object")
        return Invoice(
            source=self.name,
            remote_id=remote_id,
            type=InvoiceType.RECEIVABLE,
            number=_opt_str(self, record, "number", where),
            status=status,
            status_raw=status_raw,
            currency=currency,
            issue_date=_date(self, record, "issue_date", where),
            due_date=_date(self, record, "due_date", where),
            subtotal=self._money(record, "subtotal", currency, where),
            tax_total=self._money(record, "tax_total", currency, where),
            total=total,
            # Contract table: nothing is due on a paid or void invoice, else the total
            # (Cloud Billing has no partial payments).
            amount_due=Money.of(0, currency) if status_raw in ("paid", "void") else total,
            customer_id=_opt_str(self, record, "customer_id", where),
            customer_snapshot=self._customer(snapshot) if snapshot is not None else None,
            line_items=LazyTuple(lines, lambda line: self._line(line, currency, where)),
            version=_opt_str(self, record, "updated_at", where),
            created_at=_datetime(self, record, "created_at", where),
            updated_at=_datetime(self, record, "updated_at", where),
            remote_data=record,
        )

    def _line(self, line: Any, currency: str, where: str) -> LineItem:
        if not isinstance(line, dict):
            raise self._bad(f"{where}: 'lines' holds a non-object")
        quantity = _decimal(self, line, "quantity", where)
        unit_price = _decimal(self, line, "unit_price", where)
        line_total = self._money(line, "line_total", currency, where)
        # line_total is rounded once over net and tax together (contract formula), so the
        # line's tax is what remains after the rounded net: it can differ by a cent from
        # round2(net x rate) and from the line's share of the invoice's tax_total.
        net = (quantity * unit_price).quantize(CENT, rounding=ROUND_HALF_UP)
        return LineItem(
            id=_opt_str(self, line, "id", where),
            description=_opt_str(self, line, "description", where),
            quantity=quantity,
            unit_price=Money.of(unit_price, currency),
            tax_rate=_decimal(self, line, "tax_rate", where),
            tax_amount=Money.of(line_total.amount - net, currency),
            total=line_total,
        )

    def _money(self, record: JSON, key: str, currency: str, where: str) -> Money:
        return Money.of(_decimal(self, record, key, where), currency)

    def _customer(self, record: JSON) -> Customer:
        remote_id = _str(self, record, "id", "customer")
        where = f"customer {remote_id}"
        return Customer(
            source=self.name,
            remote_id=remote_id,
            name=_opt_str(self, record, "name", where),
            email=_opt_str(self, record, "email", where),
            remote_data=record,
        )


def _lines(lines: Sequence[LineDraft]) -> list[JSON]:
    """`lines[]` rows; amounts as JSON numbers in major units (cloudbilling.md)."""
    rows = []
    for line in lines:
        row: JSON = {
            "description": line.description,
            "quantity": json_number(line.quantity),
            "unit_price": json_number(line.unit_price),
        }
        if line.tax_rate is not None:
            row["tax_rate"] = json_number(line.tax_rate)
        rows.append(row)
    return rows


def _decimal(adapter: Adapter, record: JSON, key: str, where: str) -> Decimal:
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UpstreamBadResponse(adapter.name, f"{where}: field {key!r} must be a number")
    # Amounts are JSON decimal numbers (49.99) that json.loads made floats. str() of a
    # float is the shortest repr that round-trips, i.e. the digits the upstream wrote,
    # so Decimal(str(x)) recovers 49.99 exactly where Decimal(x) would give 49.9899999...
    return Decimal(str(value))


def _str(adapter: Adapter, record: JSON, key: str, where: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value:
        raise UpstreamBadResponse(adapter.name, f"{where}: field {key!r} must be a string")
    return value


def _opt_str(adapter: Adapter, record: JSON, key: str, where: str) -> str | None:
    value = record.get(key)
    if value is not None and not isinstance(value, str):
        raise UpstreamBadResponse(adapter.name, f"{where}: field {key!r} must be a string")
    return value


def _date(adapter: Adapter, record: JSON, key: str, where: str) -> date | None:
    value = _opt_str(adapter, record, key, where)
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise UpstreamBadResponse(
            adapter.name, f"{where}: field {key!r} is not a date YYYY-MM-DD"
        ) from None


def _datetime(adapter: Adapter, record: JSON, key: str, where: str) -> datetime | None:
    value = _opt_str(adapter, record, key, where)
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise UpstreamBadResponse(
            adapter.name, f"{where}: field {key!r} is not a timestamp with a time zone"
        )
    return moment.astimezone(UTC)
