"""Adapter for Makini's unified ERP API (`docs/upstreams/makini.md`, seed 002).

Makini carries invoices of both directions; the status and the currency of an invoice are
keys into reference tables (`/statuses/invoices`, `/currencies`) that this adapter reads
and keeps for five minutes. Receipts carry no invoice reference, so no payments.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Generic, TypeVar

from gateway.adapters.base import (
    Adapter,
    Capability,
    Page,
    WriteRules,
    gather_each,
    laravel_error_detail,
    read_all_pages,
)
from gateway.domain.inputs import CustomerDraft, InvoiceChanges, InvoiceDraft, LineDraft
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
    Vendor,
    parse_utc,
)
from gateway.errors import UpstreamBadResponse, UpstreamError, UpstreamNotFound, WriteRefused
from gateway.source_config import KindSettings, SourceConfig
from gateway.upstream.client import SourceClient
from gateway.upstream.routes import IdShape

JSONDict = dict[str, Any]
Params = list[tuple[str, str | int]]
T = TypeVar("T")
R = TypeVar("R")

# The gateway-contract status table, keyed by Makini status `code`.
STATUS_BY_CODE: dict[str, InvoiceStatus] = {
    "draft": InvoiceStatus.DRAFT,
    "submitted": InvoiceStatus.SUBMITTED,
    "open": InvoiceStatus.OPEN,
    "partially_paid": InvoiceStatus.PARTIALLY_PAID,
    "paid": InvoiceStatus.PAID,
    "cancelled": InvoiceStatus.VOID,
}
REFERENCE_TTL = 300.0  # seconds: statuses and currencies change rarely
BATCH_THRESHOLD = 3  # above this many ids, one list read beats single GETs
UPSTREAM_PAGE = 100  # makini.md: per_page is clamped to 100
# The invoice fields an ordered list can be sorted by upstream (`sort[field]`).
SORT_FIELDS = {
    OrderField.ISSUE_DATE: "invoiceDate",
    OrderField.DUE_DATE: "dueDate",
    OrderField.CREATED_AT: "createdAt",
    OrderField.UPDATED_AT: "updatedAt",
}


class _Memo(Generic[T]):
    """A value loaded at most once per `ttl` seconds; concurrent callers share one load."""

    def __init__(self, ttl: float, load: Callable[[], Awaitable[T]]) -> None:
        self._ttl = ttl
        self._load = load
        self._value: T | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def get(self) -> T:
        async with self._lock:
            if self._value is None or time.monotonic() >= self._expires:
                self._value = await self._load()
                self._expires = time.monotonic() + self._ttl
            return self._value


class MakiniSettings(KindSettings):
    """A Makini source's own key: where its API lives (makini.md: `/api` in the v3 pages,
    `/api/erp` in the current OpenAPI files)."""

    path_prefix: str | None = None


class MakiniAdapter(Adapter):
    """Makini: invoices of both directions, customers, vendors.

    Lists are read in ascending `key` order (`sort[key]=0`), 100 per page, which is also
    Makini's largest page, so gateway page N is upstream page N+1.
    """

    kind = "makini"
    settings_model = MakiniSettings
    error_detail = staticmethod(laravel_error_detail)
    capabilities = frozenset(
        {
            Capability.LIST_INVOICES,
            Capability.GET_INVOICE,
            Capability.LIST_CUSTOMERS,
            Capability.GET_CUSTOMER,
            Capability.LIST_VENDORS,
            Capability.GET_VENDOR,
            Capability.CREATE_INVOICE,
            Capability.UPDATE_INVOICE,
            Capability.SET_INVOICE_STATUS,
            Capability.CREATE_CUSTOMER,
            Capability.UPDATE_CUSTOMER,
        }
    )
    # makini.md: invoices are created (POST) and updated (PUT) with their lines, the status
    # set through PUT .../status with a key of the status table; customers take a name.
    # There is no delete and no payment endpoint, nor a terms field.
    write_rules = WriteRules(
        create_fields=frozenset({
            "type", "number", "customer_id", "vendor_id", "issue_date", "due_date",
            "currency", "status", "purchase_order_number",
        }),
        create_statuses=frozenset({InvoiceStatus.DRAFT, InvoiceStatus.OPEN}),
        update_fields=frozenset(
            {"number", "issue_date", "due_date", "purchase_order_number", "line_items"}
        ),
        line_fields=frozenset({"tax_rate", "sku"}),
        target_statuses=frozenset(STATUS_BY_CODE.values()),
        customer_fields=frozenset({"name"}),
    )
    wire_fields = {
        "lineItem": "lineItems",
        "description": "description",
        "quantity": "quantity",
        "price": "unitPrice",
        "lineTaxValue": "taxRate",
        "code": "sku",
        "invoiceNumber": "number",
        "customerKey": "customerId",
        "vendorKey": "vendorId",
        "invoiceDate": "issueDate",
        "dueDate": "dueDate",
        "currencyKey": "currency",
        "statusKey": "status",
        "poKey": "purchaseOrderNumber",
        "status": "status",
        "name": "name",
    }
    page_size = UPSTREAM_PAGE
    # `per_page` takes any number up to 100 (makini.md): a page serving few invoices reads
    # the smallest of these windows that holds them (gateway.lists.paging).
    window_sizes = (10, 20, 25, 50)
    # Below the configured prefix (`/api` or `/api/erp`).
    routes = frozenset({
        "/invoices", "/invoices/{id}", "/invoices/{id}/status", "/customers",
        "/customers/{id}", "/vendors", "/vendors/{id}", "/currencies", "/statuses/invoices",
    })
    # docs/upstreams/makini.md: keys are 14-digit numeric strings.
    id_shape = IdShape.of(r"[0-9]{14}", "Makini keys are 14 digits")

    def __init__(self, config: SourceConfig, client: SourceClient) -> None:
        # makini.md: the v3 pages use /api, the current OpenAPI files /api/erp.
        prefix = config.settings_as(MakiniSettings).path_prefix
        self.prefix = "/" + (prefix or "/api").strip("/")
        super().__init__(config, client)
        self._statuses = _Memo(REFERENCE_TTL, lambda: self._reference("statuses/invoices"))
        self._currencies = _Memo(REFERENCE_TTL, lambda: self._reference("currencies"))

    # --- invoices -------------------------------------------------------------------
    async def list_invoices(
        self, query: InvoiceQuery, page: int, size: int | None = None
    ) -> Page[Invoice]:
        params, exact = await self._invoice_filters(query)
        if params is None:
            return Page([], 0, False)
        if query.order and self.sorts(query.order[0]):
            first = query.order[0]
            # makini.md: the first sort[...] given sorts first; key breaks ties.
            params = [(f"sort[{SORT_FIELDS[first.field]}]", "1" if first.descending else "0"),
                      *params]
        body, meta = await self._list_page("invoices", page, params, size)
        statuses, currencies = await self._tables()
        return Page.lazy(
            body, lambda record: self._invoice(record, statuses, currencies),
            meta[0] if exact else None, meta[1],
        )

    async def get_invoice(self, remote_id: str) -> Invoice:
        record = await self._get_one("invoices", remote_id)
        statuses, currencies = await self._tables()
        return self._invoice(record, statuses, currencies)

    def sorts(self, order: InvoiceOrder) -> bool:
        # makini.md: timestamps sort as instants. Not NUMBER: a number that looks like a
        # decimal sorts by its value there, not by code point.
        return order.field in SORT_FIELDS

    def lists_exactly(self, query: InvoiceQuery) -> bool:
        # `_invoice_filters` without its tables: a status or currency filter, which needs
        # them to say, counts as not exact (whole pages are read, as before windows).
        if query.overdue or query.statuses is not None or query.currencies is not None:
            return False
        exact = not query.filters_beyond(("due_from", "due_to", "updated_since", "overdue"))
        if query.type is not None:
            exact = exact and query.customer_id is not None and (
                query.type is InvoiceType.RECEIVABLE)
        return exact

    async def _invoice_filters(self, query: InvoiceQuery) -> tuple[Params | None, bool]:
        """The `filter[...]` params for `query` and whether they express all of it; None
        params when no invoice can match (a status set no status key maps to)."""
        params: Params = []
        exact = not query.filters_beyond(
            ("due_from", "due_to", "updated_since", "overdue", "currencies"))
        if query.overdue:
            return None, True  # Makini marks no invoice overdue (isOverdue is always false)
        if query.due_from is not None:
            params.append(("filter[dueDate:gteq]", _day_start(query.due_from)))
        if query.due_to is not None:
            params.append(("filter[dueDate:lted]", _day_start(query.due_to, 1, -1)))
        if query.updated_since is not None:
            # Whole seconds on the wire: at or after t is at or after t rounded up.
            since = query.updated_since.astimezone(UTC)
            if since.microsecond:
                since = since.replace(microsecond=0) + timedelta(seconds=1)
            params.append(("filter[updatedAt:gteq]", since.strftime("%Y-%m-%dT%H:%M:%SZ")))
        if query.number is not None:
            # Only "contains" ignores case; the gateway keeps the exact matches.
            params.append(("filter[invoiceNumber:contains]", query.number))
        if query.currencies is not None:
            _, currencies = await self._tables()
            keys = [k for k, code in currencies.items() if code.upper() in query.currencies]
            if self.config.currency in query.currencies:
                exact = False  # an unknown currencyKey reads as the configured currency
            elif not keys:
                return None, True
            elif len(keys) == 1:
                params.append(("filter[currencyKey]", keys[0]))
            else:
                exact = False  # one value per field
        if query.customer_id is not None:
            params.append(("filter[customerKey]", query.customer_id))
        if query.vendor_id is not None:
            params.append(("filter[vendorKey]", query.vendor_id))
        if query.issued_from is not None:
            params.append(("filter[invoiceDate:gteq]", _day_start(query.issued_from)))
        if query.issued_to is not None:
            # Wire timestamps have whole seconds ("2024-01-15T00:00:00Z", makini.md), so
            # 23:59:59 of the last day takes in every invoice whose UTC date is that day.
            params.append(("filter[invoiceDate:lted]", _day_start(query.issued_to, 1, -1)))
        if query.type is not None:
            # No filter says "customerKey is set"; a customer filter implies RECEIVABLE.
            implied = query.customer_id is not None and query.type is InvoiceType.RECEIVABLE
            exact = exact and implied
        if query.statuses is not None:
            if InvoiceStatus.UNKNOWN in query.statuses:
                exact = False
            else:
                statuses, _ = await self._tables()
                keys = [k for k, code in statuses.items() if _status(code) in query.statuses]
                if not keys:
                    return None, True
                if len(keys) == 1:
                    params.append(("filter[statusKey]", keys[0]))
                else:
                    exact = False  # one value per field, and filterMatch=any would OR it all
        return params, exact

    def _invoice(
        self, record: Any, statuses: dict[str, str], currencies: dict[str, str]
    ) -> Invoice:
        rec = _Record(self.name, "invoice", record)
        key = rec.key()
        status_key = rec.opt_str("statusKey")
        code = statuses.get(status_key) if status_key is not None else None
        status = _status(code) if code is not None else InvoiceStatus.UNKNOWN
        currency_key = rec.opt_str("currencyKey")
        # An unknown or missing currencyKey must not fail the query: fall back to the
        # source's configured currency, as for upstreams that carry none.
        currency = currencies.get(currency_key or "", self.config.currency)
        customer, sales_order = rec.opt_str("customerKey"), rec.opt_str("salesOrderKey")
        lines = rec.require("lineItems")
        if lines is None:
            lines = []
        if not isinstance(lines, list):
            raise rec.bad("lineItems", "is not a list")
        return Invoice(
            source=self.name,
            remote_id=key,
            type=InvoiceType.RECEIVABLE if customer or sales_order else InvoiceType.PAYABLE,
            number=rec.opt_str("invoiceNumber", required=True),
            status=status,
            status_raw=code if code is not None else status_key,
            currency=currency,
            issue_date=_date(rec.timestamp("invoiceDate", required=True)),
            due_date=_date(rec.timestamp("dueDate")),
            subtotal=rec.money("totalNetValue", currency),
            tax_total=rec.money("totalTaxValue", currency),
            total=rec.money("totalGrossValue", currency, required=True),
            amount_due=Money.of(0, currency) if status is InvoiceStatus.PAID else None,
            customer_id=customer,
            vendor_id=rec.opt_str("vendorKey"),
            line_items=LazyTuple(
                range(len(lines)), lambda index: self._line(rec, index, lines[index], currency)
            ),
            purchase_order_number=rec.opt_str("poKey"),
            version=rec.opt_str("updatedAt"),
            created_at=rec.timestamp("createdAt"),
            updated_at=rec.timestamp("updatedAt"),
            remote_data=rec.data,
        )

    def _line(self, invoice: _Record, index: int, line: Any, currency: str) -> LineItem:
        rec = _Record(self.name, f"invoice {invoice.data.get('key')} line {index}", line)
        return LineItem(
            id=rec.opt_str("key"),
            description=rec.opt_str("description"),
            sku=rec.opt_str("code"),
            quantity=rec.decimal("quantity"),
            unit_price=rec.money("price", currency),
            tax_amount=rec.money("lineTaxValue", currency),
            total=rec.money("lineTotalValue", currency),
        )

    # --- customers and vendors ------------------------------------------------------
    async def list_customers(self, page: int) -> Page[Customer]:
        return await self._normalized_page("customers", page, self._customer)

    async def get_customer(self, remote_id: str) -> Customer:
        return self._customer(await self._get_one("customers", remote_id))

    async def get_customers(self, remote_ids: Sequence[str]) -> list[Customer | UpstreamError]:
        return await self._many(remote_ids, "customer", self.list_customers, self.get_customer)

    async def list_vendors(self, page: int) -> Page[Vendor]:
        return await self._normalized_page("vendors", page, self._vendor)

    async def get_vendor(self, remote_id: str) -> Vendor:
        return self._vendor(await self._get_one("vendors", remote_id))

    async def get_vendors(self, remote_ids: Sequence[str]) -> list[Vendor | UpstreamError]:
        return await self._many(remote_ids, "vendor", self.list_vendors, self.get_vendor)

    async def _many(
        self,
        remote_ids: Sequence[str],
        what: str,
        list_page: Callable[[int], Awaitable[Page[Any]]],
        get_one: Callable[[str], Awaitable[Any]],
    ) -> list[Any]:
        """No batch read exists (makini.md): a few ids cost single GETs, more than
        BATCH_THRESHOLD one read of the whole (short) list, whichever is fewer calls."""
        unique = list(dict.fromkeys(remote_ids))
        if len(unique) <= BATCH_THRESHOLD:
            found = dict(zip(unique, await gather_each(unique, get_one), strict=True))
        else:
            by_id = {item.remote_id: item for item in await read_all_pages(list_page)}
            found = {
                remote_id: by_id.get(remote_id)
                or UpstreamNotFound(self.name, f"{what} {remote_id} does not exist")
                for remote_id in unique
            }
        return [found[remote_id] for remote_id in remote_ids]

    def _customer(self, record: Any) -> Customer:
        rec = _Record(self.name, "customer", record)
        billing = rec.data.get("billingAddress")
        addresses = rec.data.get("addresses")
        if billing is None and isinstance(addresses, list) and addresses:
            billing = addresses[0]
        return Customer(
            source=self.name,
            remote_id=rec.key(),
            name=rec.opt_str("name", required=True),
            address=_address(billing),
            remote_data=rec.data,
        )

    def _vendor(self, record: Any) -> Vendor:
        rec = _Record(self.name, "vendor", record)
        return Vendor(
            source=self.name,
            remote_id=rec.key(),
            name=rec.opt_str("name", required=True),
            remote_data=rec.data,
        )

    # --- writes -----------------------------------------------------------------------
    async def create_invoice(self, draft: InvoiceDraft, key: str | None) -> Invoice:
        # makini.md: the create body names the lines `lineItem`, singular. A missing
        # number or date is left for Makini to refuse (422, mapped onto the input).
        body: JSONDict = {"lineItem": _wire_lines(draft.line_items)}
        if key is not None:
            body["title"] = key  # the gateway's reference (docs/writes.md); unused otherwise
        if draft.number is not None:
            body["invoiceNumber"] = draft.number
        if draft.issue_date is not None:
            body["invoiceDate"] = _day_start(draft.issue_date)
        if draft.customer_id is not None:
            body["customerKey"] = draft.customer_id
        if draft.vendor_id is not None:
            body["vendorKey"] = draft.vendor_id
        if draft.due_date is not None:
            body["dueDate"] = _day_start(draft.due_date)
        if draft.purchase_order_number is not None:
            body["poKey"] = draft.purchase_order_number
        if draft.currency is not None:
            body["currencyKey"] = await self._currency_key(draft.currency)
        if draft.status is not None:
            body["statusKey"] = await self._status_key(draft.status)
        reply = await self.client.send_json("POST", f"{self.prefix}/invoices", body)
        return await self._written_invoice(reply, "POST invoices")

    async def update_invoice(
        self, current: Invoice, changes: InvoiceChanges, version: str | None
    ) -> Invoice:
        body: JSONDict = {}
        if changes.number is not None:
            body["invoiceNumber"] = changes.number
        if changes.issue_date is not None:
            body["invoiceDate"] = _day_start(changes.issue_date)
        if changes.due_date is not None:
            body["dueDate"] = _day_start(changes.due_date)
        if changes.purchase_order_number is not None:
            body["poKey"] = changes.purchase_order_number
        if changes.line_items is not None:
            body["lineItem"] = _wire_lines(changes.line_items)
        reply = await self.client.send_json("PUT", f"{self.prefix}/invoices/{{id}}", body,
                                            id=current.remote_id)
        return await self._written_invoice(reply, "PUT invoices/{key}")

    async def set_invoice_status(
        self, current: Invoice, status: InvoiceStatus, version: str | None
    ) -> Invoice:
        body = {"status": await self._status_key(status)}
        reply = await self.client.send_json("PUT", f"{self.prefix}/invoices/{{id}}/status",
                                            body, id=current.remote_id)
        return await self._written_invoice(reply, "PUT invoices/{key}/status")

    async def create_customer(self, draft: CustomerDraft, key: str | None) -> Customer:
        body: JSONDict = {"name": draft.name}
        if key is not None:
            body["code"] = key  # the gateway's reference (docs/writes.md); unique in Makini
        reply = await self.client.send_json("POST", f"{self.prefix}/customers", body)
        return self._customer(_data(self.name, reply, "POST customers"))

    async def find_invoice(self, draft: InvoiceDraft, reference: str) -> Invoice | None:
        records = await self._found("invoices", "title", reference)
        if not records:
            return None
        statuses, currencies = await self._tables()
        return self._invoice(records[0], statuses, currencies)

    async def find_customer(self, draft: CustomerDraft, reference: str) -> Customer | None:
        records = await self._found("customers", "code", reference)
        return self._customer(records[0]) if records else None

    async def _found(self, resource: str, field: str, reference: str) -> list[Any]:
        """The records whose `field` equals the reference (Makini's exact filter)."""
        self.client.cache.clear()  # the upstream as it is now
        records, _ = await self._list_page(resource, 0, [(f"filter[{field}]", reference)])
        return records

    async def update_customer(self, current: Customer, draft: CustomerDraft) -> Customer:
        reply = await self.client.send_json("PUT", f"{self.prefix}/customers/{{id}}",
                                            {"name": draft.name}, id=current.remote_id)
        return self._customer(_data(self.name, reply, "PUT customers/{key}"))

    async def _written_invoice(self, reply: Any, where: str) -> Invoice:
        statuses, currencies = await self._tables()
        return self._invoice(_data(self.name, reply, where), statuses, currencies)

    async def _status_key(self, status: InvoiceStatus) -> str:
        statuses, _ = await self._tables()
        for key, code in sorted(statuses.items()):
            if _status(code) is status:
                return key
        raise WriteRefused.one("UNSUPPORTED", f"source {self.name!r} has no status for "
                               f"{status.value} in its status table", "status")

    async def _currency_key(self, currency: str) -> str:
        _, currencies = await self._tables()
        for key, code in sorted(currencies.items()):
            if code.upper() == currency.upper():
                return key
        known = ", ".join(sorted(set(currencies.values())))
        raise WriteRefused.one("VALIDATION_FAILED", f"source {self.name!r} does not use "
                               f"{currency.upper()}; its currencies: {known}", "currency")

    # --- health ---------------------------------------------------------------------
    async def check(self) -> None:
        body = await self.client.get_json(f"{self.prefix}/currencies", {"per_page": 1})
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise UpstreamBadResponse(self.name, "currencies: reply has no data list")

    # --- wire helpers ---------------------------------------------------------------
    async def _list_page(
        self, resource: str, page: int, filters: Params | None = None, size: int | None = None
    ) -> tuple[list[Any], tuple[int, bool]]:
        body = await self.client.get_json(f"{self.prefix}/{resource}",
                                          _list_params(page, filters, size))
        return self._envelope(body, resource)

    async def _normalized_page(
        self, resource: str, page: int, normalize: Callable[[Any], R]
    ) -> Page[R]:
        """A page of records normalized, through the adapter's normalized-object cache."""

        def to_page(body: Any) -> Page[R]:
            records, (total, more) = self._envelope(body, resource)
            return Page.lazy(records, normalize, total, more)

        path = f"{self.prefix}/{resource}"
        return await self.read(path, _list_params(page, None), to_page)

    def route_templates(self) -> Iterable[str]:
        return {self.prefix + route for route in self.routes}

    def _envelope(self, body: Any, resource: str) -> tuple[list[Any], tuple[int, bool]]:
        where = f"{resource} list"
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise UpstreamBadResponse(self.name, f"{where}: reply has no 'data' list")
        meta = body.get("meta")
        if not isinstance(meta, dict):
            raise UpstreamBadResponse(self.name, f"{where}: reply has no 'meta' object")
        numbers = {}
        for name in ("total", "current_page", "last_page"):
            value = meta.get(name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise UpstreamBadResponse(self.name, f"{where}: meta.{name} is not an integer")
            numbers[name] = value
        more = numbers["current_page"] < numbers["last_page"]
        return body["data"], (numbers["total"], more)

    async def _get_one(self, resource: str, remote_id: str) -> Any:
        body = await self.client.get_json(f"{self.prefix}/{resource}/{{id}}", id=remote_id)
        if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            raise UpstreamBadResponse(self.name, f"{resource} {remote_id}: reply has no 'data'")
        return body["data"]

    async def _reference(self, resource: str) -> dict[str, str]:
        """A reference table as key -> `code`, every page of it."""
        table: dict[str, str] = {}

        async def fetch(page: int) -> Page[None]:
            body, (_, more) = await self._list_page(resource, page)
            for record in body:
                rec = _Record(self.name, resource, record)
                code = rec.opt_str("code", required=True)
                if code is not None:
                    table[rec.key()] = code
            return Page([], None, more)

        await read_all_pages(fetch)
        return table

    async def _tables(self) -> tuple[dict[str, str], dict[str, str]]:
        return await self._statuses.get(), await self._currencies.get()


class _Record:
    """Typed reads of one upstream record; a contract breach names the field."""

    def __init__(self, source: str, what: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise UpstreamBadResponse(source, f"{what}: record is not an object")
        self.source, self.what, self.data = source, what, data

    def bad(self, name: str, problem: str) -> UpstreamBadResponse:
        return UpstreamBadResponse(self.source, f"{self.what}: field '{name}' {problem}")

    def require(self, name: str) -> Any:
        if name not in self.data:
            raise self.bad(name, "is missing")
        return self.data[name]

    def key(self) -> str:
        value = self.require("key")
        if not isinstance(value, str) or not value:
            raise self.bad("key", "is not a non-empty string")
        return value

    def opt_str(self, name: str, *, required: bool = False) -> str | None:
        value = self.require(name) if required else self.data.get(name)
        if value is not None and not isinstance(value, str):
            raise self.bad(name, "is not a string")
        return value

    def decimal(self, name: str, *, required: bool = False) -> Decimal | None:
        # makini.md: money and quantities are decimal strings, so Decimal(text) is exact;
        # a JSON number here would break the contract (and would have passed a float).
        text = self.opt_str(name, required=required)
        if text is None or text == "":
            return None
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise self.bad(name, f"is not a decimal number ({text[:20]!r})") from None
        if not value.is_finite():
            raise self.bad(name, "is not a finite number")
        return value

    def money(self, name: str, currency: str, *, required: bool = False) -> Money | None:
        value = self.decimal(name, required=required)
        return Money.of(value, currency) if value is not None else None

    def timestamp(self, name: str, *, required: bool = False) -> datetime | None:
        text = self.opt_str(name, required=required)
        if text is None or text == "":
            return None
        # makini.md: times are UTC; a timestamp without an offset is read as UTC.
        try:
            return parse_utc(text)
        except ValueError:
            raise self.bad(name, f"is not an ISO 8601 timestamp ({text[:30]!r})") from None


def _data(source: str, reply: Any, where: str) -> Any:
    if not isinstance(reply, dict) or not isinstance(reply.get("data"), dict):
        raise UpstreamBadResponse(source, f"{where}: reply has no 'data' object")
    return reply["data"]


def _wire_lines(lines: Sequence[LineDraft]) -> list[JSONDict]:
    """`lineItem` rows: money and quantities as decimal strings (makini.md). Makini lines
    carry a tax value, not a rate: the rate given becomes round2(quantity x price x rate)."""
    rows = []
    for number, line in enumerate(lines, start=1):
        row: JSONDict = {
            "lineNo": str(number),
            "description": line.description,
            "quantity": str(line.quantity),
            "price": str(line.unit_price),
        }
        if line.sku is not None:
            row["code"] = line.sku
        if line.tax_rate is not None:
            tax = line.quantity * line.unit_price * line.tax_rate / 100
            row["lineTaxValue"] = str(tax.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
        rows.append(row)
    return rows


def _status(code: str) -> InvoiceStatus:
    return STATUS_BY_CODE.get(code, InvoiceStatus.UNKNOWN)


def _date(moment: datetime | None) -> date | None:
    return moment.date() if moment is not None else None


def _day_start(day: date, days: int = 0, seconds: int = 0) -> str:
    moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
    moment += timedelta(days=days, seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _address(raw: Any) -> Address | None:
    # Assumed address object (makini.md names `billingAddress` but not its fields):
    # street, street2, city, state, postalCode, country.
    if not isinstance(raw, dict):
        return None

    def text(name: str) -> str | None:
        value = raw.get(name)
        return value if isinstance(value, str) and value else None

    return Address(
        line1=text("street"),
        line2=text("street2"),
        city=text("city"),
        region=text("state"),
        postal_code=text("postalCode"),
        country=text("country"),
    )


def _list_params(page: int, filters: Params | None, size: int | None = None) -> Params:
    # A sort[...] among `filters` comes before sort[key], which then only breaks ties.
    sorts = [pair for pair in filters or () if pair[0].startswith("sort[")]
    rest = [pair for pair in filters or () if not pair[0].startswith("sort[")]
    return [("page", page + 1), ("per_page", size or UPSTREAM_PAGE), *sorts, ("sort[key]", "0"),
            *rest]
