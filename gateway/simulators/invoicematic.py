"""Simulator of the Invoicematic REST API (seed 003; Crater behaviour where seed 003 is silent).

Served under `/api/v1` like production: resources at `/api/v1/api/...`, health at
`/api/v1/health`. Two keys: `token` holds every scope; `read_only_token` only the read
scopes of invoices, customers and payments (to exercise the documented 403).
Writes send the documented webhooks (seed 003) to the target set through `/_sim/webhook`.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.simulators.base import SIM_NOW, Simulator, json_response
from gateway.simulators.invoicematic_data import (
    EXPENSE_CATEGORIES,
    PAYMENT_METHODS,
    RULES,
    UNITS,
    Invalid,
    Record,
    Store,
    apply_write,
    seed_store,
    validate,
)
from gateway.simulators.laravel import paginate

ALL_SCOPES = (
    "invoices:read",
    "invoices:write",
    "estimates:read",
    "estimates:write",
    "customers:read",
    "customers:write",
    "payments:read",
    "payments:write",
    "expenses:read",
    "expenses:write",
    "items:read",
    "items:write",
    "reports:read",
    "settings:read",
    "settings:write",
)
READ_ONLY_SCOPES = ("invoices:read", "customers:read", "payments:read")
IDEMPOTENCY_TTL = 24 * 3600.0
DELETABLE = frozenset({"invoices", "estimates", "expenses", "items"})
# Resources whose writes send webhooks, with the event prefix (seed 003's event list).
WEBHOOK_RESOURCES = {"invoices": "invoice", "estimates": "estimate", "customers": "customer",
                     "payments": "payment", "expenses": "expense"}
# `status` values that filter on paid_status instead (docs/upstreams/invoicematic.md).
_PAID_STATUSES = frozenset({"UNPAID", "PARTIALLY_PAID", "PAID"})


def error(status: int, code: str, message: str) -> Response:
    return json_response({"error": code, "message": message}, status)


def invalid(errors: dict[str, list[str]]) -> Response:
    return json_response({"message": "The given data was invalid.", "errors": errors}, 422)


def not_found() -> Response:
    # Assumed in docs/upstreams/invoicematic.md.
    return error(404, "not_found", "Resource not found.")


@dataclass
class _Replay:
    response: Response
    expires: float


class InvoicematicSimulator(Simulator):
    kind: ClassVar[str] = "invoicematic"
    sends_webhooks: ClassVar[bool] = True
    api_prefix: ClassVar[str] = "/api/v1"
    default_token: ClassVar[str] = "is_key_sim7f3a9c2e41d8b6a05f"
    read_only_token: ClassVar[str] = "is_key_simro4b81d47e0c93a2f6"

    def seed_data(self, rng: random.Random) -> None:
        self.store: Store = seed_store(rng, self.invoice_count)
        self.replays: dict[tuple[str, str], _Replay] = {}

    # --- auth -------------------------------------------------------------------------
    @property
    def keys(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        return {
            self.token: ("Production Key", ALL_SCOPES),
            self.read_only_token: ("Read-only Key", READ_ONLY_SCOPES),
        }

    def authenticate(self, request: Request) -> Response | None:
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or credential not in self.keys:
            return self.unauthorized()
        return None

    def unauthorized(self) -> Response:
        return error(401, "unauthorized", "Invalid API key.")

    def _denied(self, request: Request, scope: str) -> Response | None:
        credential = request.headers.get("authorization", "").partition(" ")[2]
        if scope in self.keys[credential][1]:
            return None
        return error(403, "forbidden", f"Your API key does not have the required scope(s): {scope}")

    def describe(self) -> dict[str, str]:
        return {"read_only_token": self.read_only_token}

    # --- test hooks -------------------------------------------------------------------
    def remote_ids(self, resource: str) -> list[str]:
        table = self._table(resource)
        return [str(key) for key in sorted(table)] if table is not None else []

    def missing_id(self, resource: str) -> str:
        table = self._table(resource) or {}
        return str(max(table, default=0) + 1000)

    def _table(self, resource: str) -> dict[int, Record] | None:
        table: dict[int, Record] | None = getattr(self.store, resource, None)
        return table if isinstance(table, dict) and resource in RULES else None

    # --- routes -----------------------------------------------------------------------
    def api_routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = [
            Route("/health", self._health, methods=["GET"]),
            Route("/api/me", self._me, methods=["GET"]),
        ]
        for resource in RULES:
            routes.append(
                Route(f"/api/{resource}", self._collection(resource), methods=["GET", "POST"])
            )
            methods = ["GET", "PUT", *(["DELETE"] if resource in DELETABLE else [])]
            routes.append(Route(f"/api/{resource}/{{id}}", self._member(resource), methods=methods))
        routes.append(
            Route("/{rest:path}", self._fallback, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
        )
        return routes

    async def _health(self, request: Request) -> Response:
        stamp = SIM_NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
        return json_response({"status": "healthy", "timestamp": stamp, "version": "2.2.0"})

    async def _me(self, request: Request) -> Response:
        credential = request.headers.get("authorization", "").partition(" ")[2]
        name, scopes = self.keys[credential]
        return json_response(
            {
                "company": {
                    "id": 1,
                    "name": "Acme Corp",
                    "slug": "acme-corp",
                    "address": {
                        "address_street_1": "123 Main St",
                        "city": "New York",
                        "state": "NY",
                        "zip": "10001",
                        "country_id": 231,
                        "phone": "+1 555-0100",
                    },
                    "logo": None,
                },
                "api_key": {
                    "name": name,
                    "scopes": list(scopes),
                    "expires_at": "2027-01-15T00:00:00+00:00",
                    "last_used_at": SIM_NOW.isoformat(),
                },
            }
        )

    async def _fallback(self, request: Request) -> Response:
        # Laravel answers an unknown route with 404 and a known one with the wrong verb 405.
        path = request.url.path.removeprefix(self.api_prefix)
        for route in self.api_routes()[:-1]:
            if isinstance(route, Route) and route.path_regex.match(path):
                return json_response(
                    {"message": f"The {request.method} method is not supported for this route."},
                    405,
                )
        return not_found()

    def _collection(self, resource: str) -> Callable[[Request], Any]:
        async def handler(request: Request) -> Response:
            if request.method == "GET":
                return self._denied(request, f"{resource}:read") or self._list(request, resource)
            return await self._write(request, resource, None)

        return handler

    def _member(self, resource: str) -> Callable[[Request], Any]:
        async def handler(request: Request) -> Response:
            record_id = _int(request.path_params["id"])
            if request.method == "GET":
                denied = self._denied(request, f"{resource}:read")
                if denied is not None:
                    return denied
                record = self.store_table(resource).get(record_id or -1)
                if record is None:
                    return not_found()
                return json_response({"data": self.render(resource, record)})
            if request.method == "DELETE":
                return self._delete(request, resource, record_id)
            return await self._write(request, resource, record_id)

        return handler

    def store_table(self, resource: str) -> dict[int, Record]:
        table: dict[int, Record] = getattr(self.store, resource)
        return table

    # --- reads ------------------------------------------------------------------------
    def render(self, resource: str, record: Record) -> Record:
        """A record as the API returns it, with Crater's embedded relations."""
        out = dict(record)
        if resource in ("invoices", "estimates", "payments"):
            # Seed 003: invoices embed {id, name, email}; estimates and payments {id, name}.
            customer = self.store.customers.get(record["customer_id"])
            keys = ("id", "name", "email") if resource == "invoices" else ("id", "name")
            out["customer"] = {key: customer[key] for key in keys} if customer else None
        if resource == "payments":
            method = record.get("payment_method_id")
            out["payment_method"] = (
                {"id": method, "name": PAYMENT_METHODS[method]}
                if method in PAYMENT_METHODS
                else None
            )
        if resource == "expenses":
            category = record["expense_category_id"]
            out["expense_category"] = {"id": category, "name": EXPENSE_CATEGORIES[category]}
        if resource == "items" and record.get("unit_id") in UNITS:
            out["unit"] = {"id": record["unit_id"], "name": UNITS[record["unit_id"]]}
        return out

    def _list(self, request: Request, resource: str) -> Response:
        params = request.query_params
        try:
            records = _filtered(resource, list(self.store_table(resource).values()), params)
            records = _ordered(records, params.get("orderByField"), params.get("orderBy"))
        except Invalid as exc:
            return invalid(exc.errors)
        limit_raw = params.get("limit", "10")
        if limit_raw == "all":
            # Crater's `limit=all` skips the paginator; the contract keeps the envelope.
            page, per_page = 1, len(records)
        else:
            limit = _int(limit_raw)
            if limit is None or limit < 1:
                return invalid({"limit": ["The limit must be an integer or 'all'."]})
            page = max(_int(params.get("page", "1")) or 1, 1)  # Laravel falls back to page 1
            per_page = limit
        return json_response(
            paginate(request, records, page, per_page,
                     render=lambda record: self.render(resource, record))
        )

    # --- writes -----------------------------------------------------------------------
    async def _write(self, request: Request, resource: str, record_id: int | None) -> Response:
        denied = self._denied(request, f"{resource}:write")
        if denied is not None:
            return denied
        key = request.headers.get("idempotency-key")
        credential = request.headers.get("authorization", "").partition(" ")[2]
        now = time.monotonic()
        if key:
            replay = self.replays.get((credential, key))
            if replay is not None and replay.expires > now:
                return replay.response
        response = await self._perform(request, resource, record_id)
        if key:
            # Like Stripe: the first response is kept whatever it was, errors included.
            self.replays[(credential, key)] = _Replay(response, now + IDEMPOTENCY_TTL)
        return response

    async def _perform(self, request: Request, resource: str, record_id: int | None) -> Response:
        table = self.store_table(resource)
        existing = table.get(record_id) if record_id is not None else None
        if record_id is not None and existing is None:
            return not_found()
        try:
            body = await request.json()
        except ValueError:
            body = {}  # Laravel validates an unreadable body as an empty one
        try:
            fields = validate(
                self.store, resource, body if isinstance(body, dict) else {}, existing
            )
            record = apply_write(self.store, resource, fields, existing)
        except Invalid as exc:
            return invalid(exc.errors)
        self._notify(resource, record, "created" if existing is None else "updated")
        # Laravel answers 201 for a model created by the request.
        return json_response(
            {"data": self.render(resource, record)}, 201 if existing is None else 200
        )

    def _delete(self, request: Request, resource: str, record_id: int | None) -> Response:
        denied = self._denied(request, f"{resource}:write")
        if denied is not None:
            return denied
        table = self.store_table(resource)
        if record_id is None or record_id not in table:
            return not_found()
        self._notify(resource, table.pop(record_id), "deleted")
        if resource == "invoices":
            # Assumed: payments outlive their invoice, detached (money was received).
            for payment in self.store.payments.values():
                if payment["invoice_id"] == record_id:
                    payment["invoice_id"] = None
        return json_response({"success": True})  # Crater's destroy reply


    # --- webhooks (seed 003, "Webhooks") ----------------------------------------------
    def _notify(self, resource: str, record: Record, action: str) -> None:
        """Send the documented events for one write: `<resource>.<action>`, and for a payment
        `payment.received` plus `invoice.paid` when it settled its invoice."""
        singular = WEBHOOK_RESOURCES.get(resource)
        if singular is None:
            return
        if resource != "payments":
            self._deliver(f"{singular}.{action}", self.render(resource, record))
            return
        if action != "created":
            return  # no payment.updated event is documented
        self._deliver("payment.received", self.render(resource, record))
        invoice = self.store.invoices.get(record["invoice_id"] or -1)
        if invoice is not None and invoice["paid_status"] == "PAID":
            self._deliver("invoice.paid", self.render("invoices", invoice))

    def _deliver(self, event: str, data: Record) -> None:
        stamp = datetime.now(UTC)
        body = json.dumps(
            {"event": event, "timestamp": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"), "data": data},
            separators=(",", ":"),
        ).encode()
        self.webhooks.send(body, {
            "X-Webhook-Signature": self.webhooks.sign(body),
            "X-Webhook-Event": event,
            "X-Webhook-Delivery-Id": uuid.uuid4().hex,
            "X-Webhook-Timestamp": str(int(stamp.timestamp())),
        })


def _int(value: Any) -> int | None:
    text = str(value)
    return int(text) if text.isdigit() else None


def _filtered(resource: str, records: list[Record], params: Any) -> list[Record]:
    def date_range(field: str) -> None:
        nonlocal records
        start, end = params.get("from_date"), params.get("to_date")
        if not (start and end):
            return  # Crater filters on dates only when both are given
        for name, value in (("from_date", start), ("to_date", end)):
            if not _is_date(value):
                raise Invalid(
                    {name: [f"The {name.replace('_', ' ')} does not match the format Y-m-d."]}
                )
        records = [r for r in records if start <= r[field] <= end]

    def partial(field: str, param: str) -> None:
        nonlocal records
        needle = params.get(param)
        if needle:  # SQL LIKE '%needle%' under a case-insensitive collation
            records = [r for r in records if needle.lower() in str(r[field] or "").lower()]

    customer = params.get("customer_id")
    if customer and resource in ("invoices", "payments"):
        records = [r for r in records if str(r["customer_id"]) == customer]
    if resource == "invoices":
        status = params.get("status")
        if status in _PAID_STATUSES:
            records = [r for r in records if r["paid_status"] == status]
        elif status:
            records = [r for r in records if r["status"] == status]
        partial("invoice_number", "invoice_number")
        date_range("invoice_date")
    elif resource == "payments":
        partial("payment_number", "payment_number")
        date_range("payment_date")
    elif resource == "customers":
        partial("name", "search")
        partial("name", "display_name")
    return records


def _ordered(records: list[Record], field: str | None, direction: str | None) -> list[Record]:
    # Crater: newest created first unless orderByField / orderBy say otherwise; ties
    # (impossible on id or created_at) fall back to id, so every order is total here.
    field = field or "created_at"
    direction = (direction or "desc").lower()
    if direction not in ("asc", "desc"):
        raise Invalid({"orderBy": ["The selected order by is invalid."]})
    if records and not all(
        not isinstance(r.get(field, 0), dict | list) and field in r for r in records
    ):
        raise Invalid({"orderByField": ["The selected order by field is invalid."]})

    def key(record: Record) -> tuple[bool, Any, int]:
        value = record.get(field)
        return (value is not None, value if value is not None else 0, record["id"])

    return sorted(records, key=key, reverse=direction == "desc")


def _is_date(value: str) -> bool:
    try:
        time.strptime(value, "%Y-%m-%d")
    except ValueError:
        return False
    return True
