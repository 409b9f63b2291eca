"""Invoicematic: receivable invoices, customers and payments (a Crater-style Laravel API).

Wire contract: `docs/upstreams/invoicematic.md` (seed 003). Money is integer cents;
the currency comes from `currency_id`. Lists are read with `limit=100&page=N+1` and an
explicit `orderByField=id&orderBy=asc` (ids are unique, so the order is total and page
boundaries never move), instead of the upstream's default newest-created-first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeGuard, TypeVar

from gateway.adapters import invoicematic_events
from gateway.adapters.base import (
    Adapter,
    Capability,
    Page,
    WebhookDelivery,
    WriteRules,
    json_number,
    laravel_error_detail,
)
from gateway.domain.inputs import (
    CustomerDraft,
    InvoiceChanges,
    InvoiceDraft,
    LineDraft,
    PaymentDraft,
)
from gateway.domain.lazy import LazyTuple
from gateway.domain.records import (
    Address,
    Customer,
    Invoice,
    InvoiceOrder,
    InvoiceQuery,
    InvoiceStatus,
    InvoiceType,
    LineItem,
    Money,
    OrderField,
    Payment,
    parse_utc,
)
from gateway.errors import UpstreamBadResponse, UpstreamError, UpstreamNotFound, WriteRefused
from gateway.source_config import KindSettings, SourceConfig
from gateway.upstream.client import SourceClient
from gateway.upstream.routes import IdShape

JSON = dict[str, Any]
R = TypeVar("R")
Params = list[tuple[str, str | int]]

# Assumed in docs/upstreams/invoicematic.md; a source's `currency_ids` adds to or overrides it.
DEFAULT_CURRENCIES: dict[int, str] = {1: "USD", 2: "GBP", 3: "EUR"}
# Crater's countries table ids (seed 003 uses 231 for the US) for the countries we map;
# any other id leaves the address's country empty rather than guessing.
COUNTRIES: dict[int, str] = {231: "US", 230: "GB", 82: "DE", 105: "IE", 75: "FR", 38: "CA"}
ORDER: Params = [("orderByField", "id"), ("orderBy", "asc")]
# invoicematic.md: `orderByField` takes any invoice column; values compare as stored (dates
# as YYYY-MM-DD, times in one format, numbers as text by code point).
SORT_FIELDS = {
    OrderField.ISSUE_DATE: "invoice_date",
    OrderField.DUE_DATE: "due_date",
    OrderField.CREATED_AT: "created_at",
    OrderField.UPDATED_AT: "updated_at",
    OrderField.NUMBER: "invoice_number",
}
# Above this many distinct ids, one `limit=all` list read beats single GETs.
LIST_READ_THRESHOLD = 3
# Unified statuses a single `status` value narrows to without losing any match: every
# unified DRAFT has status DRAFT, every PARTIALLY_PAID has paid_status PARTIALLY_PAID,
# every OPEN has paid_status UNPAID. Each is a superset (e.g. a DRAFT invoice with
# paid_status PAID is PAID), so the gateway re-filters and the total is not reported.
STATUS_NARROWING: dict[InvoiceStatus, str] = {
    InvoiceStatus.DRAFT: "DRAFT",
    InvoiceStatus.PARTIALLY_PAID: "PARTIALLY_PAID",
    InvoiceStatus.OPEN: "UNPAID",
}
NEVER = frozenset({InvoiceStatus.SUBMITTED, InvoiceStatus.VOID})  # no Invoicematic word


class InvoicematicSettings(KindSettings):
    """An Invoicematic source's own key: currency ids beyond (or instead of) the assumed
    `DEFAULT_CURRENCIES`."""

    currency_ids: dict[int, str] | None = None


class InvoicematicAdapter(Adapter):
    """Invoices, customers and payments, every list in ascending `id` order."""

    kind = "invoicematic"
    settings_model = InvoicematicSettings
    # invoicematic.md "Errors": Laravel's body; its 401/403/404 add an `error` code beside
    # the `message`, which is what the gateway repeats.
    error_detail = staticmethod(laravel_error_detail)
    # Crater embeds the invoice's customer relation, loaded when the list is read, as
    # `customer {id, name, email}` (docs/upstreams/invoicematic.md, "Records"): current, not a
    # copy taken at issue (Cloud Billing's snapshot is such a copy, so it provides nothing).
    provided_customer_fields = frozenset({"name", "email"})
    capabilities = frozenset(
        {
            Capability.LIST_INVOICES,
            Capability.GET_INVOICE,
            Capability.LIST_CUSTOMERS,
            Capability.GET_CUSTOMER,
            Capability.LIST_PAYMENTS,
            Capability.GET_PAYMENT,
            Capability.RECEIVE_WEBHOOKS,
            Capability.CREATE_INVOICE,
            Capability.UPDATE_INVOICE,
            Capability.DELETE_INVOICE,
            Capability.RECORD_PAYMENT,
            Capability.CREATE_CUSTOMER,
            Capability.UPDATE_CUSTOMER,
        }
    )
    # invoicematic.md "Writes": Crater's create bodies. An invoice is created as a DRAFT in
    # its customer's currency; its status then moves only by payments (no status write);
    # items have a name, description, quantity and price (no sku, no tax of their own).
    write_rules = WriteRules(
        create_fields=frozenset({"type", "number", "customer_id", "issue_date", "due_date",
                                 "status"}),
        create_types=frozenset({InvoiceType.RECEIVABLE}),
        create_statuses=frozenset({InvoiceStatus.DRAFT}),
        update_fields=frozenset({"number", "issue_date", "due_date", "line_items"}),
        line_fields=frozenset({"tax_rate"}),
        payment_fields=frozenset({"number"}),
        customer_fields=frozenset({"name", "email", "phone", "address"}),
        upstream_idempotency=True,
    )
    wire_fields = {
        "items": "lineItems",
        "description": "description",
        "quantity": "quantity",
        "price": "unitPrice",
        "invoice_number": "number",
        "invoice_date": "issueDate",
        "due_date": "dueDate",
        "customer_id": "customerId",
        "amount": "amount",
        "payment_date": "date",
        "payment_number": "number",
        "invoice_id": "invoiceId",
        "name": "name",
        "email": "email",
        "phone": "phone",
        "billing": "address",
        # the totals follow from the lines (the gateway computes them as Crater's client)
        "sub_total": "lineItems",
        "tax": "lineItems",
        "total": "lineItems",
    }
    page_size = 100
    # `limit` takes any number (docs/upstreams/invoicematic.md): a page serving few invoices
    # reads the smallest of these windows that holds them (gateway.lists.paging).
    window_sizes = (10, 20, 25, 50)
    routes = frozenset({
        "/api/me", "/api/invoices", "/api/invoices/{id}", "/api/customers",
        "/api/customers/{id}", "/api/payments", "/api/payments/{id}",
    })
    # docs/upstreams/invoicematic.md (Crater): records are identified by integers from 1.
    id_shape = IdShape.of(r"[1-9][0-9]{0,17}", "Invoicematic ids are positive integers")

    def __init__(self, config: SourceConfig, client: SourceClient) -> None:
        super().__init__(config, client)
        own = config.settings_as(InvoicematicSettings).currency_ids
        self.currencies = {**DEFAULT_CURRENCIES, **(own or {})}

    # --- invoices -------------------------------------------------------------------
    async def list_invoices(
        self, query: InvoiceQuery, page: int, size: int | None = None
    ) -> Page[Invoice]:
        pushed = self._pushed_down(query)
        if pushed is None:
            return Page([], 0, False)
        filters, exact = pushed
        params: Params = [("limit", size or self.page_size), ("page", page + 1), *filters]

        def normalize(body: Any) -> Page[Invoice]:
            records, total, has_more = self._page_of(body, "GET /api/invoices", page)
            return Page.lazy(records, self._invoice, total if exact else None, has_more)

        return await self.read("/api/invoices", params, normalize, variant=exact)

    def lists_exactly(self, query: InvoiceQuery) -> bool:
        pushed = self._pushed_down(query)
        return pushed is not None and pushed[1]

    def _pushed_down(self, query: InvoiceQuery) -> tuple[Params, bool] | None:
        """The order and filter parameters of an invoice list, and whether they are the
        whole query (the upstream's pages then hold matching invoices only); None for a
        query no invoice here can match."""
        if query.type is InvoiceType.PAYABLE or query.vendor_id is not None:
            return None  # receivables only, no vendors
        params: Params = list(ORDER)
        if query.order and self.sorts(query.order[0]):
            first = query.order[0]
            params = [("orderByField", SORT_FIELDS[first.field]),
                      ("orderBy", "desc" if first.descending else "asc")]
        exact = not query.filters_beyond(("overdue",))
        if query.overdue is not None and query.statuses is None:
            if query.overdue:
                # isOverdue is status OVERDUE (invoicematic.md), which `status` selects.
                params.append(("status", "OVERDUE"))
            else:
                exact = False
        if query.number is not None:
            params.append(("invoice_number", query.number))  # partial: the gateway keeps exact
        if query.customer_id is not None:
            if not query.customer_id.isdigit():
                return None  # customer ids are integers
            params.append(("customer_id", query.customer_id))
        if query.issued_from is not None and query.issued_to is not None:
            params += [
                ("from_date", query.issued_from.isoformat()),
                ("to_date", query.issued_to.isoformat()),
            ]
        elif query.issued_from is not None or query.issued_to is not None:
            exact = False  # the API filters dates only when given both ends
        if query.statuses is not None:
            wanted = query.statuses - NEVER
            if not wanted:
                return None
            exact = False
            if len(wanted) == 1 and next(iter(wanted)) in STATUS_NARROWING:
                params.append(("status", STATUS_NARROWING[next(iter(wanted))]))
        return params, exact

    def sorts(self, order: InvoiceOrder) -> bool:
        return order.field in SORT_FIELDS

    async def get_invoice(self, remote_id: str) -> Invoice:
        path = "/api/invoices/{id}"
        return await self.read(path, None, lambda body: self._invoice(self._single(body, path)),
                               id=remote_id)

    # --- customers ------------------------------------------------------------------
    async def list_customers(self, page: int) -> Page[Customer]:
        params: Params = [("limit", self.page_size), ("page", page + 1), *ORDER]

        def normalize(body: Any) -> Page[Customer]:
            records, total, has_more = self._page_of(body, "GET /api/customers", page)
            return Page.lazy(records, self._customer, total, has_more)

        return await self.read("/api/customers", params, normalize)

    async def get_customer(self, remote_id: str) -> Customer:
        path = "/api/customers/{id}"
        return await self.read(path, None, lambda body: self._customer(self._single(body, path)),
                               id=remote_id)

    async def get_customers(self, remote_ids: Sequence[str]) -> list[Customer | UpstreamError]:
        """Single GETs for a few ids; more than `LIST_READ_THRESHOLD` read the whole list
        in one `limit=all` request."""
        if len(set(remote_ids)) <= LIST_READ_THRESHOLD:
            return await super().get_customers(remote_ids)
        found = await self._all("customers", self._customer)
        return [found.get(i) or self._missing("customer", i) for i in remote_ids]

    async def all_customers(self) -> Sequence[Customer]:
        """`limit=all`: the one read `get_customers` makes for more than a few ids."""
        return tuple((await self._all("customers", self._customer)).values())

    # --- payments -------------------------------------------------------------------
    async def list_payments(self, page: int) -> Page[Payment]:
        params: Params = [("limit", self.page_size), ("page", page + 1), *ORDER]

        def normalize(body: Any) -> Page[Payment]:
            records, total, has_more = self._page_of(body, "GET /api/payments", page)
            return Page.lazy(records, self._payment, total, has_more)

        return await self.read("/api/payments", params, normalize)

    async def get_payment(self, remote_id: str) -> Payment:
        path = "/api/payments/{id}"
        return await self.read(path, None, lambda body: self._payment(self._single(body, path)),
                               id=remote_id)

    async def get_payments(self, remote_ids: Sequence[str]) -> list[Payment | UpstreamError]:
        """As `get_customers`: a few single GETs, or one `limit=all` list read."""
        if len(set(remote_ids)) <= LIST_READ_THRESHOLD:
            return await super().get_payments(remote_ids)
        found = await self._all("payments", self._payment)
        return [found.get(i) or self._missing("payment", i) for i in remote_ids]

    async def payments_for_invoices(
        self, invoice_ids: Sequence[str]
    ) -> Mapping[str, Sequence[Payment]]:
        """The API has no `invoice_id` filter (docs/upstreams/invoicematic.md), so one
        `limit=all` read of every payment, grouped by `invoice_id`, in id order."""
        if not invoice_ids:
            return {}
        payments = await self._all("payments", self._payment)
        grouped: dict[str, list[Payment]] = {invoice_id: [] for invoice_id in invoice_ids}
        for payment in payments.values():  # in id order, as listed
            if payment.invoice_id in grouped:
                grouped[payment.invoice_id].append(payment)
        return {invoice_id: tuple(payments) for invoice_id, payments in grouped.items()}

    # --- health ---------------------------------------------------------------------
    async def check(self) -> None:
        body = await self.client.get_json("/api/me")
        if not isinstance(body, dict) or not isinstance(body.get("api_key"), dict):
            raise self._bad("GET /api/me: reply has no 'api_key' object")

    # --- writes -----------------------------------------------------------------------
    async def create_invoice(self, draft: InvoiceDraft, key: str | None) -> Invoice:
        body: JSON = {
            "customer_id": _int_id(draft.customer_id),
            "invoice_number": draft.number,
            "invoice_date": draft.issue_date.isoformat() if draft.issue_date else None,
            "due_date": draft.due_date.isoformat() if draft.due_date else None,
            "discount_type": "fixed",
            "discount": 0,
            "discount_val": 0,
            "template_name": "invoice1",
            **_document(draft.line_items, discount=0),
        }
        reply = await self._send("POST", "/api/invoices", body, key)
        return self._invoice(self._single(reply, "POST /api/invoices"))

    async def update_invoice(
        self, current: Invoice, changes: InvoiceChanges, version: str | None
    ) -> Invoice:
        # Crater validates a PUT like a POST: the whole document goes again, built from the
        # record as just read with the changes applied.
        record = current.remote_data
        body: JSON = {
            name: record.get(name)
            for name in ("invoice_date", "due_date", "customer_id", "invoice_number",
                         "reference_number", "discount_type", "discount", "discount_val",
                         "sub_total", "tax", "total", "template_name")
        }
        body["items"] = [
            {name: item.get(name) for name in ("name", "description", "quantity", "price")}
            for item in record.get("items") or []
        ]
        if changes.number is not None:
            body["invoice_number"] = changes.number
        if changes.issue_date is not None:
            body["invoice_date"] = changes.issue_date.isoformat()
        if changes.due_date is not None:
            body["due_date"] = changes.due_date.isoformat()
        if changes.line_items is not None:
            discount = record.get("discount_val") if _is_int(record.get("discount_val")) else 0
            body.update(_document(changes.line_items, discount=discount or 0))
        path = "/api/invoices/{id}"
        reply = await self._send("PUT", path, body, None, id=current.remote_id)
        return self._invoice(self._single(reply, path))

    async def delete_invoice(self, current: Invoice) -> None:
        await self.client.send_json("DELETE", "/api/invoices/{id}", id=current.remote_id)

    async def record_payment(
        self, invoice: Invoice, draft: PaymentDraft, key: str | None
    ) -> Payment:
        body: JSON = {
            "payment_date": draft.date.isoformat(),
            "customer_id": _int_id(invoice.customer_id),
            "invoice_id": _int_id(invoice.remote_id),
            "amount": _cents(draft.amount, ("amount",)),
            "payment_number": draft.number,
        }
        reply = await self._send("POST", "/api/payments", body, key)
        return self._payment(self._single(reply, "POST /api/payments"))

    async def create_customer(self, draft: CustomerDraft, key: str | None) -> Customer:
        body = _customer_body(draft, None)
        reply = await self._send("POST", "/api/customers", body, key)
        return self._customer(self._single(reply, "POST /api/customers"))

    async def update_customer(self, current: Customer, draft: CustomerDraft) -> Customer:
        path = "/api/customers/{id}"
        body = _customer_body(draft, current)
        reply = await self._send("PUT", path, body, None, id=current.remote_id)
        return self._customer(self._single(reply, path))

    async def _send(
        self, method: str, path: str, body: JSON, key: str | None, **ids: str
    ) -> Any:
        # invoicematic.md: `Idempotency-Key` on POST and PUT; a retry with it within 24 h
        # returns the first response, so such a request is safe to repeat.
        headers = {"Idempotency-Key": key} if key else None
        return await self.client.send_json(
            method, path, body, headers=headers, idempotent=key is not None, **ids
        )

    def input_path(self, wire: str) -> tuple[str, ...] | None:
        # An item's `name` is the line's description; at the top, a customer's name.
        if wire.startswith("items.") and wire.endswith(".name"):
            wire = wire.removesuffix(".name") + ".description"
        return super().input_path(wire)

    # --- requests -------------------------------------------------------------------
    def read_webhook(
        self, headers: Mapping[str, str], body: bytes, now: float
    ) -> WebhookDelivery:
        # Signature first: nothing of an unsigned delivery (not even its id) is used.
        self.check_signature("X-Webhook-Signature", headers, body)
        invoicematic_events.check_timestamp(headers, now)
        delivery_id = invoicematic_events.delivery_id(headers)
        events, signed_at = invoicematic_events.parse_events(self.name, body)
        return WebhookDelivery(events, signed_at, delivery_id)

    def _missing(self, what: str, remote_id: str) -> UpstreamNotFound:
        return UpstreamNotFound(self.name, f"{what} {remote_id} not found", status=404)

    async def _all(self, resource: str, normalize: Callable[[JSON], R]) -> dict[str, R]:
        """Every record of `resource` by remote id, in the list's (id) order."""
        # `limit=all` (Crater) returns every row in one reply, with the same envelope.
        where = f"GET /api/{resource}"

        def by_id(body: Any) -> dict[str, R]:
            records, _, _ = self._page_of(body, where, 0)
            return {str(record.get("id")): normalize(record) for record in records}

        return await self.read(f"/api/{resource}", [("limit", "all"), *ORDER], by_id)

    def _page_of(self, body: Any, where: str, page: int) -> tuple[list[JSON], int, bool]:
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise self._bad(f"{where}: reply has no 'data' array")
        records: list[JSON] = body["data"]
        if not all(isinstance(record, dict) for record in records):
            raise self._bad(f"{where}: 'data' holds a non-object")
        meta = body.get("meta")
        if not isinstance(meta, dict):
            raise self._bad(f"{where}: reply has no 'meta' object")
        total, last_page = meta.get("total"), meta.get("last_page")
        if not _is_int(total) or not _is_int(last_page):
            raise self._bad(f"{where}: 'meta.total' and 'meta.last_page' must be integers")
        return records, total, page + 1 < last_page

    def _single(self, body: Any, where: str) -> JSON:
        if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            raise self._bad(f"GET {where}: reply has no 'data' object")
        data: JSON = body["data"]
        return data

    # --- normalization --------------------------------------------------------------
    def _bad(self, message: str) -> UpstreamBadResponse:
        return UpstreamBadResponse(self.name, message)

    def _invoice(self, record: JSON) -> Invoice:
        remote_id = str(self._int(record, "id", "invoice"))
        where = f"invoice {remote_id}"
        currency = self._currency(record, where)
        status_word = self._str(record, "status", where)
        paid_word = self._str(record, "paid_status", where)
        status, status_raw = invoice_status(status_word, paid_word)
        snapshot = record.get("customer")
        if snapshot is not None and not isinstance(snapshot, dict):
            raise self._bad(f"{where}: field 'customer' must be an object")
        items = record.get("items", [])
        if not isinstance(items, list):
            raise self._bad(f"{where}: field 'items' must be an array")
        return Invoice(
            source=self.name,
            remote_id=remote_id,
            type=InvoiceType.RECEIVABLE,
            number=self._str(record, "invoice_number", where),
            status=status,
            status_raw=status_raw,
            currency=currency,
            issue_date=self._date(record, "invoice_date", where, required=True),
            due_date=self._date(record, "due_date", where),
            is_overdue=status_word == "OVERDUE",
            subtotal=self._cents(record, "sub_total", currency, where),
            tax_total=self._cents(record, "tax", currency, where),
            total=self._cents(record, "total", currency, where, required=True),
            amount_due=self._cents(record, "due_amount", currency, where, required=True),
            customer_id=str(self._int(record, "customer_id", where)),
            customer_snapshot=self._customer(snapshot) if snapshot is not None else None,
            line_items=LazyTuple(items, lambda item: self._line(item, currency, where)),
            # `unique_hash` is a Hashids of the id in Crater and never changes on edit;
            # `updated_at` does, so it is the version (the hash only if it is missing).
            version=self._opt_str(record, "updated_at", where)
            or self._opt_str(record, "unique_hash", where),
            created_at=self._datetime(record, "created_at", where),
            updated_at=self._datetime(record, "updated_at", where),
            remote_data=record,
        )

    def _line(self, item: Any, currency: str, where: str) -> LineItem:
        if not isinstance(item, dict):
            raise self._bad(f"{where}: 'items' holds a non-object")
        name = self._opt_str(item, "name", where)
        detail = self._opt_str(item, "description", where)
        quantity = item.get("quantity")
        if not isinstance(quantity, int | float) or isinstance(quantity, bool):
            raise self._bad(f"{where}: item field 'quantity' must be a number")
        item_id = item.get("id")
        return LineItem(
            id=str(item_id) if item_id is not None else None,
            # The catalog name and the free text both matter; keep both when both exist.
            description=f"{name}: {detail}" if name and detail else name or detail,
            # json.loads gives a float for a JSON number; str() of a float is its shortest
            # round-trip repr, so Decimal(str(1.5)) == Decimal("1.5") exactly.
            quantity=Decimal(str(quantity)),
            unit_price=self._cents(item, "price", currency, where, required=True),
            total=self._cents(item, "total", currency, where),
        )

    def _customer(self, record: JSON) -> Customer:
        remote_id = str(self._int(record, "id", "customer"))
        where = f"customer {remote_id}"
        billing = record.get("billing")
        if billing is not None and not isinstance(billing, dict):
            raise self._bad(f"{where}: field 'billing' must be an object")
        address = None
        if billing:
            country = billing.get("country_id")
            address = Address(
                line1=self._opt_str(billing, "address_street_1", where),
                line2=self._opt_str(billing, "address_street_2", where),
                city=self._opt_str(billing, "city", where),
                region=self._opt_str(billing, "state", where),
                postal_code=self._opt_str(billing, "zip", where),
                country=COUNTRIES.get(country) if _is_int(country) else None,
            )
        phone = self._opt_str(record, "phone", where)
        return Customer(
            source=self.name,
            remote_id=remote_id,
            name=self._str(record, "name", where),
            email=self._opt_str(record, "email", where),
            phone=phone or (self._opt_str(billing, "phone", where) if billing else None),
            address=address,
            remote_data=record,
        )

    def _payment(self, record: JSON) -> Payment:
        remote_id = str(self._int(record, "id", "payment"))
        where = f"payment {remote_id}"
        currency = self._currency(record, where)
        method = record.get("payment_method")
        invoice_id = record.get("invoice_id")
        if invoice_id is not None and not _is_int(invoice_id):
            raise self._bad(f"{where}: field 'invoice_id' must be an integer")
        return Payment(
            source=self.name,
            remote_id=remote_id,
            number=self._opt_str(record, "payment_number", where),
            date=self._date(record, "payment_date", where, required=True),
            amount=self._cents(record, "amount", currency, where, required=True),
            method=self._opt_str(method, "name", where) if isinstance(method, dict) else None,
            invoice_id=str(invoice_id) if invoice_id is not None else None,
            customer_id=str(self._int(record, "customer_id", where)),
            remote_data=record,
        )

    # --- field readers: a contract breach names the field -----------------------------
    def _currency(self, record: JSON, where: str) -> str:
        currency_id = self._int(record, "currency_id", where)
        code = self.currencies.get(currency_id)
        if code is None:
            raise self._bad(
                f"{where}: currency_id {currency_id} is unknown; map it in the source's "
                "'currency_ids'"
            )
        return code

    def _int(self, record: JSON, key: str, where: str) -> int:
        value = record.get(key)
        if type(value) is not int:  # JSON gives int itself (not bool, not a subclass)
            raise self._bad(f"{where}: field '{key}' must be an integer")
        return value

    def _str(self, record: JSON, key: str, where: str) -> str:
        value = record.get(key)
        if not isinstance(value, str):
            raise self._bad(f"{where}: field '{key}' must be a string")
        return value

    def _opt_str(self, record: JSON, key: str, where: str) -> str | None:
        value = record.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self._bad(f"{where}: field '{key}' must be a string")
        return value

    def _cents(
        self, record: JSON, key: str, currency: str, where: str, *, required: bool = False
    ) -> Money | None:
        value = record.get(key)
        if type(value) is int:  # the usual case first: four amounts per invoice
            return Money.from_minor(value, currency)
        if value is None and not required:
            return None
        raise self._bad(f"{where}: field '{key}' must be integer cents")

    def _date(self, record: JSON, key: str, where: str, *, required: bool = False) -> date | None:
        value = record.get(key)
        if value is None and not required:
            return None
        try:
            return date.fromisoformat(value) if isinstance(value, str) else _fail()
        except ValueError:
            raise self._bad(f"{where}: field '{key}' must be a YYYY-MM-DD date") from None

    def _datetime(self, record: JSON, key: str, where: str) -> datetime | None:
        value = record.get(key)
        if value is None:
            return None
        try:
            # Laravel's `2026-01-15T08:00:00.000000Z`: always UTC.
            return parse_utc(value) if isinstance(value, str) else _fail()
        except ValueError:
            raise self._bad(f"{where}: field '{key}' must be an ISO 8601 time") from None


def invoice_status(status: str, paid_status: str) -> tuple[InvoiceStatus, str]:
    """The unified status and the upstream word behind it (docs/gateway-contract.md precedence:
    PAID, then PARTIALLY_PAID, then DRAFT, then OPEN). The raw word is `status`, unless it
    is an unknown `paid_status` that leaves the invoice UNKNOWN."""
    if status == "COMPLETED" or paid_status == "PAID":
        return InvoiceStatus.PAID, status
    if paid_status == "PARTIALLY_PAID":
        return InvoiceStatus.PARTIALLY_PAID, status
    if status == "DRAFT":
        return InvoiceStatus.DRAFT, status
    if status in ("SENT", "VIEWED", "OVERDUE"):
        if paid_status == "UNPAID":
            return InvoiceStatus.OPEN, status
        return InvoiceStatus.UNKNOWN, paid_status
    return InvoiceStatus.UNKNOWN, status


def _int_id(remote_id: str | None) -> int | None:
    return int(remote_id) if remote_id is not None and remote_id.isdigit() else None


def _cents(amount: Decimal, field: tuple[str | int, ...]) -> int:
    """Integer cents (invoicematic.md); an amount finer than a cent cannot be held."""
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise WriteRefused.one("VALIDATION_FAILED", f"{amount} has more than 2 decimals; "
                               "this source holds whole cents", *(str(f) for f in field))
    return int(cents)


def _document(lines: Sequence[LineDraft], discount: int) -> JSON:
    """`items` and the totals Crater's client computes and sends (invoicematic.md: the
    client computes the totals): each item's total is round(quantity x price) in cents,
    `tax` the sum of each line's round(quantity x price x rate / 100)."""
    items: list[JSON] = []
    sub_total = tax = 0
    for index, line in enumerate(lines):
        price = _cents(line.unit_price, ("lineItems", index, "unitPrice"))
        net = line.quantity * price
        sub_total += int(net.to_integral_value(ROUND_HALF_UP))
        if line.tax_rate is not None:
            tax += int((net * line.tax_rate / 100).to_integral_value(ROUND_HALF_UP))
        items.append({"name": line.description, "quantity": json_number(line.quantity),
                      "price": price})
    return {"items": items, "sub_total": sub_total, "tax": tax,
            "total": sub_total - discount + tax}


def _customer_body(draft: CustomerDraft, current: Customer | None) -> JSON:
    """A create body, or Crater's PUT body (validated like a create: every field again)."""
    old: JSON = dict(current.remote_data) if current is not None else {}
    body: JSON = {
        "name": draft.name if draft.name is not None else old.get("name"),
        "email": draft.email if draft.email is not None else old.get("email"),
        "phone": draft.phone if draft.phone is not None else old.get("phone"),
    }
    if draft.address is not None:
        country = None
        if draft.address.country is not None:
            country = {code: number for number, code in COUNTRIES.items()}.get(
                draft.address.country.upper()
            )
            if country is None:
                known = ", ".join(sorted(COUNTRIES.values()))
                raise WriteRefused.one("VALIDATION_FAILED", f"this source knows the countries "
                                       f"{known}", "address", "country")
        body["billing"] = {
            "address_street_1": draft.address.line1,
            "address_street_2": draft.address.line2,
            "city": draft.address.city,
            "state": draft.address.region,
            "zip": draft.address.postal_code,
            "country_id": country,
        }
    elif old.get("billing") is not None:
        body["billing"] = old["billing"]
    return body


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _fail() -> Any:
    raise ValueError("not a string")
