"""Simulator of Makini's unified ERP API, per `docs/upstreams/makini.md` and seed 002.

Every route is served under both `/api/...` (the v3 pages) and `/api/erp/...` (the current
OpenAPI files). Lists take `page`, `per_page` (default 15, clamped to 100), `filter[field]`
with the operator suffixes `:contains`, `:startsWith`, `:gt`, `:gteq`, `:lt`, `:lted`,
`filterMatch=all|any` and `sort[field]=1|0` (desc|asc), and answer in Laravel's envelope.

Decisions where the contract is silent (all Laravel-ish):
- Lists are ordered by ascending `key` when no sort is given; ties under a sort keep that.
- Filtering or sorting on a field the resource does not have as a scalar, an unknown
  operator, or a bad `filterMatch`/`sort`/`page`/`per_page` value answers 422.
- `filter[field]=v` compares the wire text exactly (`"1500.00"`, not `1500`).
- `:contains` / `:startsWith` are case-insensitive (MySQL's default collation); the
  comparison operators compare timestamps as times and decimal strings as numbers.
- Creates answer 200 (seed 002 documents only 🟢200 for `POST /api/invoices`).
- Writes stamp `createdAt`/`updatedAt` from a logical clock starting at SIM_NOW that
  advances one second per write, so the data stays deterministic and `updatedAt` moves.
"""

from __future__ import annotations

import random
import re
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.simulators.base import SIM_NOW, Simulator, json_response
from gateway.simulators.laravel import paginate
from gateway.simulators.makini_data import (
    KeyMaker,
    MakiniData,
    Record,
    money,
    seed,
    set_totals,
    timestamp,
)

PREFIXES = ("/api", "/api/erp")
DEFAULT_PER_PAGE = 15
MAX_PER_PAGE = 100
OPERATORS = ("contains", "startsWith", "gt", "gteq", "lt", "lted")
_KEY = re.compile(r"^\d{14}$")
_DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_FILTER = re.compile(r"^filter\[([A-Za-z0-9_]+)(?::([A-Za-z]+))?\]$")
_SORT = re.compile(r"^sort\[([A-Za-z0-9_]+)\]$")

Handler = Callable[[Request], Awaitable[Response]]
Errors = dict[str, list[str]]


class MakiniSimulator(Simulator):
    kind = "makini"
    api_prefix = ""

    data: MakiniData
    _keys: KeyMaker
    _writes: int

    # --- Simulator hooks ------------------------------------------------------------
    def seed_data(self, rng: random.Random) -> None:
        self.data, self._keys = seed(rng, self.invoice_count)
        self._writes = 0

    def api_routes(self) -> list[BaseRoute]:
        table: list[tuple[str, Handler, list[str]]] = [
            ("/invoices", self.list_invoices, ["GET"]),
            ("/invoices", self.create_invoice, ["POST"]),
            ("/invoices/{key}", self.get_invoice, ["GET"]),
            ("/invoices/{key}", self.update_invoice, ["PUT"]),
            ("/invoices/{key}/status", self.update_status, ["PUT"]),
            ("/statuses/invoices", self._lister("statuses"), ["GET"]),
            ("/vendors", self._lister("vendors"), ["GET"]),
            ("/vendors/{key}", self._getter("vendors"), ["GET"]),
            ("/customers", self._lister("customers"), ["GET"]),
            ("/customers", self.create_customer, ["POST"]),
            ("/customers/{key}", self._getter("customers"), ["GET"]),
            ("/customers/{key}", self.update_customer, ["PUT"]),
            ("/currencies", self._lister("currencies"), ["GET"]),
            ("/currencies/{key}", self._getter("currencies"), ["GET"]),
            ("/taxes", self._lister("taxes"), ["GET"]),
            ("/taxes/{key}", self._getter("taxes"), ["GET"]),
        ]
        routes: list[BaseRoute] = [
            Route(prefix + path, handler, methods=methods)
            for prefix in PREFIXES
            for path, handler, methods in table
        ]
        # Laravel answers an unknown path with its JSON 404, not a plain-text page.
        routes.append(Route("/{path:path}", self._no_route))
        return routes

    def unauthorized(self) -> Response:
        return json_response({"message": "Unauthenticated."}, 401)

    def remote_ids(self, resource: str) -> list[str]:
        if resource == "payments":
            return []  # makini.md: receipts carry no invoice reference; no payments here
        return sorted(self._table(resource))

    def missing_id(self, resource: str) -> str:
        candidate = 99_000_000_000_000
        while str(candidate) in self._table(resource):
            candidate += 1
        return str(candidate)

    def _table(self, resource: str) -> dict[str, Record]:
        table: dict[str, Record] = getattr(self.data, resource)
        return table

    # --- reads ----------------------------------------------------------------------
    async def list_invoices(self, request: Request) -> Response:
        return list_response(request, self.data.invoices.values())

    async def get_invoice(self, request: Request) -> Response:
        return self._one(self.data.invoices, request.path_params["key"])

    def _lister(self, resource: str) -> Handler:
        async def handler(request: Request) -> Response:
            return list_response(request, self._table(resource).values())

        return handler

    def _getter(self, resource: str) -> Handler:
        async def handler(request: Request) -> Response:
            return self._one(self._table(resource), request.path_params["key"])

        return handler

    def _one(self, table: dict[str, Record], key: str) -> Response:
        record = table.get(key)
        return json_response({"data": record}) if record is not None else not_found()

    async def _no_route(self, request: Request) -> Response:
        return not_found()

    # --- invoice writes -------------------------------------------------------------
    async def create_invoice(self, request: Request) -> Response:
        body = await _body(request)
        record: Record = {
            "key": "",
            "title": None,
            "customerKey": None,
            "locationKey": None,
            "invoiceNumber": None,
            "vendorKey": None,
            "poKey": None,
            "statusKey": self._status_key("draft"),
            "lineItems": [],
            "invoiceDate": None,
            "dueDate": None,
            "receivedDate": None,
            "currencyKey": self._base_currency(),
            "totalNetValue": None,
            "totalTaxValue": None,
            "totalGrossValue": None,
            "salesOrderKey": None,
            "createdAt": None,
            "updatedAt": None,
            "deletedAt": None,
        }
        errors = self._apply_invoice(record, body, creating=True)
        if errors:
            return invalid(errors)
        record["key"] = self._keys()
        record["createdAt"] = record["updatedAt"] = now = self._tick()
        self._finish_lines(record, body, now)
        self.data.invoices[record["key"]] = record
        return json_response({"data": record})

    async def update_invoice(self, request: Request) -> Response:
        current = self.data.invoices.get(request.path_params["key"])
        if current is None:
            return not_found()
        body = await _body(request)
        record = dict(current)
        errors = self._apply_invoice(record, body, creating=False)
        if errors:
            return invalid(errors)
        record["updatedAt"] = now = self._tick()
        self._finish_lines(record, body, now)
        self.data.invoices[record["key"]] = record
        return json_response({"data": record})

    async def update_status(self, request: Request) -> Response:
        record = self.data.invoices.get(request.path_params["key"])
        if record is None:
            return not_found()
        body = await _body(request)
        status = body.get("status")
        if status is None or status == "":
            return invalid({"status": ["The status field is required."]})
        if not isinstance(status, str) or status not in self.data.statuses:
            return invalid({"status": ["The selected status is invalid."]})
        record["statusKey"] = status
        record["updatedAt"] = self._tick()
        return json_response({"data": record})

    def _apply_invoice(self, record: Record, body: dict[str, Any], *, creating: bool) -> Errors:
        errors: Errors = {}
        if creating or "invoiceNumber" in body:
            _check_string(errors, body, "invoiceNumber", required=True)
        _check_string(errors, body, "title")
        for name, table in (
            ("customerKey", self.data.customers),
            ("vendorKey", self.data.vendors),
            ("statusKey", self.data.statuses),
            ("currencyKey", self.data.currencies),
        ):
            value = body.get(name)
            if value is not None and (not isinstance(value, str) or value not in table):
                errors[name] = [f"The selected {_words(name)} is invalid."]
        for name in ("poKey", "salesOrderKey", "locationKey"):
            value = body.get(name)
            if value is not None and not (isinstance(value, str) and _KEY.match(value)):
                errors[name] = [f"The {_words(name)} format is invalid."]
        if creating or "invoiceDate" in body:
            _check_timestamp(errors, body, "invoiceDate", required=True)
        _check_timestamp(errors, body, "dueDate")
        _check_timestamp(errors, body, "receivedDate")
        for name in ("totalNetValue", "totalTaxValue", "totalGrossValue"):
            _check_decimal(errors, body, name)
        lines = body.get("lineItem")
        if lines is not None:
            if not isinstance(lines, list):
                errors["lineItem"] = ["The line item must be an array."]
            else:
                for index, line in enumerate(lines):
                    _check_line(errors, line, f"lineItem.{index}")
        if errors:
            return errors
        for name in _INVOICE_FIELDS:
            if name in body and (body[name] is not None or name not in _KEEP_WHEN_NULL):
                record[name] = body[name]
        parties = ("customerKey", "salesOrderKey", "vendorKey", "poKey")
        if not any(record.get(name) for name in parties):
            # seed 002: a sales invoice needs customerKey and/or salesOrderKey, a bill
            # vendorKey and/or poKey; Laravel's required_without_all wording.
            errors["customerKey"] = [
                "The customer key field is required when none of sales order key / "
                "vendor key / po key are present."
            ]
        return errors

    def _finish_lines(self, record: Record, body: dict[str, Any], now: str) -> None:
        lines = body.get("lineItem")
        if isinstance(lines, list):
            built = [self._line(record, index, line, now) for index, line in enumerate(lines)]
            explicit = {name: record[name] for name in _TOTALS if body.get(name) is not None}
            set_totals(record, built)
            record.update(explicit)

    def _line(self, invoice: Record, index: int, body: dict[str, Any], now: str) -> Record:
        quantity, price = Decimal(body["quantity"]), Decimal(body["price"])
        discount = Decimal(body.get("discount") or "0")
        total = body.get("lineTotalValue") or money(quantity * price - discount)
        return {
            "key": self._keys(),
            "locationKey": invoice["locationKey"],
            "vendorKey": invoice["vendorKey"],
            "productKey": body.get("productKey"),
            "statusKey": None,
            "storeroomKey": None,
            "currencyKey": invoice["currencyKey"],
            "lineNo": str(body.get("lineNo") or index + 1),
            "code": body.get("code"),
            "description": body.get("description"),
            "lineRef": None,
            "quantity": body["quantity"],
            "receivedQuantity": None,
            "uomKey": None,
            "price": body["price"],
            "discount": money(discount),
            "lineTaxValue": body.get("lineTaxValue") or "0.00",
            "lineTotalValue": total,
            "notes": body.get("notes"),
            "deliveryAt": None,
            "createdAt": now,
            "updatedAt": now,
            "deletedAt": None,
        }

    # --- customer writes ------------------------------------------------------------
    async def create_customer(self, request: Request) -> Response:
        body = await _body(request)
        errors = self._customer_errors(body, None)
        if errors:
            return invalid(errors)
        now = self._tick()
        record: Record = {
            "key": self._keys(),
            "name": body["name"],
            "code": body.get("code"),
            "organizationKey": self._organization(),
            "addresses": [],
            "billingAddress": None,
            "companyKey": body.get("companyKey"),
            "createdAt": now,
            "updatedAt": now,
            "deletedAt": None,
        }
        self.data.customers[record["key"]] = record
        return json_response({"data": record})

    async def update_customer(self, request: Request) -> Response:
        record = self.data.customers.get(request.path_params["key"])
        if record is None:
            return not_found()
        body = await _body(request)
        errors = self._customer_errors(body, record["key"])
        if errors:
            return invalid(errors)
        for name in ("name", "code", "companyKey"):
            if name in body:
                record[name] = body[name]
        record["updatedAt"] = self._tick()
        return json_response({"data": record})

    def _customer_errors(self, body: dict[str, Any], key: str | None) -> Errors:
        errors: Errors = {}
        if key is None or "name" in body:
            _check_string(errors, body, "name", required=True)
        _check_string(errors, body, "code")
        code = body.get("code")
        if (
            "code" not in errors
            and code is not None
            and any(
                other["code"] == code and other["key"] != key
                for other in self.data.customers.values()
            )
        ):
            errors["code"] = ["The code has already been taken."]
        company = body.get("companyKey")
        if company is not None and not (isinstance(company, str) and _KEY.match(company)):
            errors["companyKey"] = ["The company key format is invalid."]
        return errors

    # --- helpers --------------------------------------------------------------------
    def _tick(self) -> str:
        self._writes += 1
        return timestamp(SIM_NOW + timedelta(seconds=self._writes))

    def _status_key(self, code: str) -> str | None:
        return next((k for k, r in self.data.statuses.items() if r["code"] == code), None)

    def _base_currency(self) -> str | None:
        return next((k for k, r in self.data.currencies.items() if r["isBase"]), None)

    def _organization(self) -> str | None:
        return next((r["organizationKey"] for r in self.data.statuses.values()), None)


_TOTALS = ("totalNetValue", "totalTaxValue", "totalGrossValue")
_INVOICE_FIELDS = (
    "title",
    "customerKey",
    "locationKey",
    "invoiceNumber",
    "vendorKey",
    "poKey",
    "statusKey",
    "invoiceDate",
    "dueDate",
    "receivedDate",
    "currencyKey",
    "salesOrderKey",
    *_TOTALS,
)
# A null for these in a create/update body means "keep the default", not "clear it".
_KEEP_WHEN_NULL = frozenset({"statusKey", "currencyKey"})


# --- lists ------------------------------------------------------------------------------
def list_response(request: Request, records: Iterable[Record]) -> Response:
    """Filter, sort and page `records` as the query asks, in Laravel's envelope."""
    rows = sorted(records, key=lambda record: str(record["key"]))
    names = {name for row in rows for name in row}
    scalars = names - {name for row in rows for name, v in row.items() if _is_composite(v)}
    errors: Errors = {}
    filters: list[tuple[str, str | None, str]] = []
    sorts: list[tuple[str, bool]] = []
    for name, value in request.query_params.multi_items():
        if match := _FILTER.match(name):
            field, operator = match.group(1), match.group(2)
            if rows and field not in scalars:
                errors[name] = [f"The field {field} is not filterable."]
            elif operator is not None and operator not in OPERATORS:
                errors[name] = [f"The operator {operator} is not supported."]
            else:
                filters.append((field, operator, value))
        elif match := _SORT.match(name):
            field = match.group(1)
            if rows and field not in scalars:
                errors[name] = [f"The field {field} is not sortable."]
            elif value not in ("0", "1"):
                errors[name] = [f"The {name} must be 0 or 1."]
            else:
                sorts.append((field, value == "1"))
    mode = request.query_params.get("filterMatch", "all")
    if mode not in ("all", "any"):
        errors["filterMatch"] = ["The selected filter match is invalid."]
    page = _positive(errors, request, "page", 1)
    per_page = _positive(errors, request, "per_page", DEFAULT_PER_PAGE)
    if errors:
        return invalid(errors)
    if filters:
        combine = all if mode == "all" else any
        rows = [row for row in rows if combine(_passes(row, *f) for f in filters)]
    for field, descending in reversed(sorts):
        present = [row for row in rows if row.get(field) is not None]
        nulls = [row for row in rows if row.get(field) is None]
        present.sort(key=lambda row: _sort_key(row[field]), reverse=descending)
        # MySQL puts NULLs first ascending and last descending.
        rows = present + nulls if descending else nulls + present
    return json_response(
        paginate(request, rows, page, min(per_page, MAX_PER_PAGE), with_path=True)
    )


def _positive(errors: Errors, request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        errors[name] = [f"The {_words(name)} must be an integer."]
        return default
    if int(raw) < 1:
        errors[name] = [f"The {_words(name)} must be at least 1."]
        return default
    return int(raw)


def _passes(row: Record, field: str, operator: str | None, wanted: str) -> bool:
    value = row.get(field)
    if value is None:
        return False
    if operator is None:
        if isinstance(value, bool):
            return wanted.lower() in (("1", "true") if value else ("0", "false"))
        return str(value) == wanted
    if operator == "contains":
        return wanted.lower() in str(value).lower()
    if operator == "startsWith":
        return str(value).lower().startswith(wanted.lower())
    left, right = _comparable(str(value), wanted)
    if operator == "gt":
        return bool(left > right)
    if operator == "gteq":
        return bool(left >= right)
    if operator == "lt":
        return bool(left < right)
    return bool(left <= right)  # lted


def _comparable(value: str, wanted: str) -> tuple[Any, Any]:
    moments = _as_time(value), _as_time(wanted)
    if moments[0] is not None and moments[1] is not None:
        return moments
    if _DECIMAL.match(value) and _DECIMAL.match(wanted):
        return Decimal(value), Decimal(wanted)
    return value, wanted


def _as_time(text: str) -> datetime | None:
    if not re.match(r"^\d{4}-\d{2}-\d{2}", text):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _sort_key(value: Any) -> tuple[int, Any]:
    text = str(value)
    if isinstance(value, str) and _DECIMAL.match(text) and not _KEY.match(text):
        return (0, Decimal(text))
    return (1, text)


def _is_composite(value: Any) -> bool:
    return isinstance(value, list | dict)


# --- validation -------------------------------------------------------------------------
def _words(name: str) -> str:
    """Laravel's attribute wording: `invoiceNumber` -> `invoice number`."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", name).replace("_", " ").lower()


def _check_string(
    errors: Errors, body: dict[str, Any], name: str, *, required: bool = False
) -> None:
    value = body.get(name)
    if value is None or value == "":
        if required:
            errors[name] = [f"The {_words(name)} field is required."]
    elif not isinstance(value, str):
        errors[name] = [f"The {_words(name)} must be a string."]
    elif len(value) > 255:
        errors[name] = [f"The {_words(name)} may not be greater than 255 characters."]


def _check_timestamp(
    errors: Errors, body: dict[str, Any], name: str, *, required: bool = False
) -> None:
    value = body.get(name)
    if value is None:
        if required:
            errors[name] = [f"The {_words(name)} field is required."]
    elif not (isinstance(value, str) and _TIMESTAMP.match(value) and _as_time(value)):
        errors[name] = [f"The {_words(name)} is not a valid date."]


def _check_decimal(
    errors: Errors, body: Any, name: str, *, label: str | None = None, required: bool = False
) -> None:
    label = label or name
    value = body.get(name)
    if value is None:
        if required:
            errors[label] = [f"The {_words(label)} field is required."]
        return
    # makini.md: money and quantities travel as decimal strings; a JSON number is refused.
    if not isinstance(value, str) or not _DECIMAL.match(value):
        errors[label] = [f"The {_words(label)} must be a numeric string."]
        return
    try:
        Decimal(value)
    except InvalidOperation:  # pragma: no cover - the pattern already guards this
        errors[label] = [f"The {_words(label)} must be a numeric string."]


def _check_line(errors: Errors, line: Any, where: str) -> None:
    if not isinstance(line, dict):
        errors[where] = [f"The {_words(where)} must be an object."]
        return
    for name in ("quantity", "price"):
        _check_decimal(errors, line, name, label=f"{where}.{name}", required=True)
    for name in ("discount", "lineTaxValue", "lineTotalValue"):
        _check_decimal(errors, line, name, label=f"{where}.{name}")
    for name in ("code", "description", "notes"):
        value = line.get(name)
        if value is not None and not isinstance(value, str):
            errors[f"{where}.{name}"] = [f"The {_words(f'{where}.{name}')} must be a string."]


async def _body(request: Request) -> dict[str, Any]:
    # Laravel reads an unparsable or non-object JSON body as no input at all.
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def not_found() -> Response:
    return json_response({"message": "Not found."}, 404)


def invalid(errors: Errors) -> Response:
    return json_response({"message": "The given data was invalid.", "errors": errors}, 422)
