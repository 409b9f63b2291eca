"""Simulator of the Cloud Billing public API (`docs/upstreams/cloudbilling.md`).

Every request carries a Supabase-style JWT (HS256, verified here with the simulator's own
secret) and `x-tenant-slug`. Tenants: `acme` (most data), `globex` (a little, the token's
user is also a member) and `initech` (exists, the user is not a member: 403). Lists are
ordered by `created_at` ascending, then `id` (Assumed). Writes take their timestamps from a
logical clock starting at SIM_NOW, so that runs stay deterministic.

Assumptions beyond the contract: a missing `x-tenant-slug` is 400 `invalid_request` (the
JWT is fine, the request is incomplete); a path id that is not a UUID is 404; on create,
`number` is optional (the workspace's next number is assigned), `status` is `draft` or
`issued`, and `currency`, `issue_date`, `due_date` may be given (defaults: the workspace's
currency, SIM_TODAY, null); single-line PATCH fields apply only to a one-line draft; a
draft PATCHed to `paid` or `void` is 409; a customer PATCH with neither `name` nor `email`
is 422. The customer snapshot is taken at creation and again when a draft is finalized.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import re
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.simulators.base import SIM_NOW, SIM_TODAY, Simulator, json_response
from gateway.simulators.cloudbilling_data import (
    COMPANIES,
    Invalid,
    Record,
    Tenant,
    apply_totals,
    date_field,
    email_field,
    list_key,
    make_line,
    name_field,
    new_id,
    number_field,
    seed_tenant,
    snapshot,
    text_field,
    timestamp,
    to_wire,
)

JWT_SECRET = b"cloudbilling-sim-jwt-secret-not-for-production"
USER_ID = "6f1c2f7e-3b9d-4a51-9c3e-2d7f0a8b41c5"
STATUSES = ("draft", "issued", "paid", "void")
MAX_LINES = 50
LINE_FIELDS = ("description", "quantity", "unit_price", "tax_rate")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_jwt(claims: dict[str, Any], secret: bytes = JWT_SECRET) -> str:
    """An HS256 JWT as Supabase Auth issues them."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def verify_jwt(token: str, secret: bytes = JWT_SECRET) -> dict[str, Any] | None:
    """The claims of a well-signed, unexpired `authenticated` token, else None."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    header, payload, signature = parts
    expected = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(_unb64(signature), expected):
            return None
        claims = json.loads(_unb64(payload))
        algorithm = json.loads(_unb64(header)).get("alg")
    except ValueError:
        return None
    if not isinstance(claims, dict) or algorithm != "HS256":
        return None
    exp = claims.get("exp")
    if claims.get("role") != "authenticated" or not isinstance(claims.get("sub"), str):
        return None
    if not isinstance(exp, int) or exp <= time.time():
        return None
    return claims


def user_token(user_id: str = USER_ID, email: str = "ops@acme.example") -> str:
    return sign_jwt(
        {
            "iss": "https://cloudbilling.supabase.co/auth/v1",
            "sub": user_id,
            "aud": "authenticated",
            "role": "authenticated",
            "email": email,
            "iat": int(SIM_NOW.timestamp()),
            "exp": 4102444800,  # 2100-01-01: the simulator's token never expires in practice
        }
    )


def error(status: int, code: str, message: str) -> Response:
    return json_response({"error": {"code": code, "message": message}}, status)


class CloudBillingSimulator(Simulator):
    """Cloud Billing for three workspaces; `remote_ids` and `describe` speak of `acme`."""

    kind = "cloudbilling"
    api_prefix = "/api/v1"
    default_token = user_token()
    tenant_slug = "acme"
    member_tenant_slug = "globex"
    foreign_tenant_slug = "initech"

    def seed_data(self, rng: random.Random) -> None:
        member, stranger = frozenset({USER_ID}), frozenset({new_id(rng)})
        acme = Tenant("acme", "Acme Software Inc.", "USD", member, "INV")
        globex = Tenant("globex", "Globex GmbH", "EUR", member, "GLX")
        initech = Tenant("initech", "Initech Ltd", "GBP", stranger, "ITC")
        seed_tenant(rng, acme, COMPANIES[:25], ["USD", "USD", "USD", "EUR", "GBP"],
                    132 if self.invoice_count is None else self.invoice_count, 2)
        seed_tenant(rng, globex, COMPANIES[25:], ["EUR"], 7)
        seed_tenant(rng, initech, COMPANIES[10:14], ["GBP"], 5)
        self.tenants = {t.slug: t for t in (acme, globex, initech)}
        self._clock = SIM_NOW
        self._ids = random.Random(rng.getrandbits(64))  # ids of records created by writes

    def api_routes(self) -> list[BaseRoute]:
        return [
            Route("/customers", self._list_customers, methods=["GET"]),
            Route("/customers", self._create_customer, methods=["POST"]),
            Route("/customers/{id}", self._get_customer, methods=["GET"]),
            Route("/customers/{id}", self._update_customer, methods=["PATCH"]),
            Route("/invoices", self._list_invoices, methods=["GET"]),
            Route("/invoices", self._create_invoice, methods=["POST"]),
            Route("/invoices/{id}", self._get_invoice, methods=["GET"]),
            Route("/invoices/{id}", self._update_invoice, methods=["PATCH"]),
            Route("/invoices/{id}", self._delete_invoice, methods=["DELETE"]),
        ]

    def unauthorized(self) -> Response:
        response = error(401, "unauthorized", "Missing or invalid JWT")
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response

    def authenticate(self, request: Request) -> Response | None:
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        claims = verify_jwt(credential) if scheme.lower() == "bearer" else None
        if claims is None:
            return self.unauthorized()
        slug = request.headers.get("x-tenant-slug", "")
        if not slug:
            return error(400, "invalid_request", "The x-tenant-slug header is required")
        tenant = self.tenants.get(slug)
        if tenant is None:
            return error(404, "not_found", f"No workspace with slug '{slug}'")
        if claims["sub"] not in tenant.members:
            return error(403, "forbidden", "You are not a member of this workspace")
        return None

    def source_block(self, base_url: str, name: str) -> dict[str, Any]:
        return {**super().source_block(base_url, name), "tenant_slug": self.tenant_slug}

    def describe(self) -> dict[str, str]:
        return {"tenant_slug": self.tenant_slug}

    def remote_ids(self, resource: str) -> list[str]:
        tenant = self.tenants[self.tenant_slug]
        records = {"invoices": tenant.invoices, "customers": tenant.customers}.get(resource)
        return [r["id"] for r in sorted(records.values(), key=list_key)] if records else []

    def missing_id(self, resource: str) -> str:
        return "00000000-0000-4000-8000-000000000000"

    # --- helpers --------------------------------------------------------------------
    def _tenant(self, request: Request) -> Tenant:
        return self.tenants[request.headers["x-tenant-slug"]]

    def _tick(self) -> str:
        self._clock += timedelta(seconds=1)
        return timestamp(self._clock)

    def _record(self, records: dict[str, Record], request: Request) -> Record | None:
        record_id = request.path_params["id"]
        return records.get(record_id) if _UUID.match(record_id) else None

    # --- customers ------------------------------------------------------------------
    async def _list_customers(self, request: Request) -> Response:
        return _page(request, list(self._tenant(request).customers.values()), None)

    async def _get_customer(self, request: Request) -> Response:
        customer = self._record(self._tenant(request).customers, request)
        if customer is None:
            return error(404, "not_found", "Customer not found")
        return json_response({"data": to_wire(customer)})

    async def _create_customer(self, request: Request) -> Response:
        try:
            body = await _body(request)
            name = name_field(body.get("name"))
            email = email_field(body.get("email"))
        except Invalid as exc:
            return error(exc.status, exc.code, exc.message)
        customer: Record = {
            "id": new_id(self._ids),
            "name": name,
            "email": email,
            "created_at": self._tick(),
        }
        self._tenant(request).customers[customer["id"]] = customer
        return json_response({"data": to_wire(customer)}, 201)

    async def _update_customer(self, request: Request) -> Response:
        customer = self._record(self._tenant(request).customers, request)
        if customer is None:
            return error(404, "not_found", "Customer not found")
        try:
            body = await _body(request)
            if "name" not in body and "email" not in body:
                raise Invalid("Provide name and/or email")
            changes: Record = {}
            if "name" in body:
                changes["name"] = name_field(body["name"])
            if "email" in body:
                changes["email"] = email_field(body["email"])
        except Invalid as exc:
            return error(exc.status, exc.code, exc.message)
        customer.update(changes)
        return json_response({"data": to_wire(customer)})

    # --- invoices -------------------------------------------------------------------
    async def _list_invoices(self, request: Request) -> Response:
        wanted: list[str] = []
        for value in request.query_params.getlist("status"):
            for word in value.split(","):
                if word.strip() not in STATUSES:
                    return error(400, "invalid_request", f"Unknown status '{word.strip()}'")
                if word.strip() not in wanted:
                    wanted.append(word.strip())
        invoices = list(self._tenant(request).invoices.values())
        if wanted:
            invoices = [invoice for invoice in invoices if invoice["status"] in wanted]
        return _page(request, invoices, wanted or None)

    async def _get_invoice(self, request: Request) -> Response:
        invoice = self._record(self._tenant(request).invoices, request)
        if invoice is None:
            return error(404, "not_found", "Invoice not found")
        return json_response({"data": to_wire(invoice)})

    async def _create_invoice(self, request: Request) -> Response:
        tenant = self._tenant(request)
        try:
            body = await _body(request)
            customer = tenant.customers.get(text_field(body, "customer_id", required=True) or "")
            if customer is None:
                raise Invalid("customer_id: unknown customer")
            status = body.get("status", "issued")
            if status not in ("draft", "issued"):
                raise Invalid("status: must be draft or issued")
            issue = date_field(body, "issue_date") or SIM_TODAY
            due = date_field(body, "due_date")
            currency = body.get("currency", tenant.currency)
            if not isinstance(currency, str) or not _CURRENCY.match(currency):
                raise Invalid("currency: must be an ISO 4217 code")
            number = text_field(body, "number")
            lines = self._lines(body, None)
            if lines is None:
                raise Invalid("lines: required (or description and unit_price)")
        except Invalid as exc:
            return error(exc.status, exc.code, exc.message)
        number = number or tenant.take_number(issue.year)
        now = self._tick()
        invoice: Record = {
            "id": new_id(self._ids),
            "number": number,
            "status": status,
            "currency": currency,
            "issue_date": issue.isoformat(),
            "due_date": due.isoformat() if due else None,
            "customer_id": customer["id"],
            "customer": snapshot(customer),
            "lines": lines,
            "created_at": now,
            "updated_at": now,
        }
        apply_totals(invoice)
        tenant.invoices[invoice["id"]] = invoice
        return json_response({"data": to_wire(invoice)}, 201)

    async def _update_invoice(self, request: Request) -> Response:
        tenant = self._tenant(request)
        invoice = self._record(tenant.invoices, request)
        if invoice is None:
            return error(404, "not_found", "Invoice not found")
        try:
            body = await _body(request)
            if invoice["status"] == "issued" and body == {"status": "paid"}:
                invoice["status"] = "paid"
            elif invoice["status"] != "draft":
                raise Invalid(
                    f"Invoice is {invoice['status']}: only drafts can be edited, "
                    "and an issued invoice only marked paid",
                    409,
                    "conflict",
                )
            else:
                self._edit_draft(tenant, invoice, body)
        except Invalid as exc:
            return error(exc.status, exc.code, exc.message)
        invoice["updated_at"] = self._tick()
        return json_response({"data": to_wire(invoice)})

    def _edit_draft(self, tenant: Tenant, invoice: Record, body: Record) -> None:
        status = body.get("status")
        if status in ("paid", "void"):
            raise Invalid("A draft must be issued before it is paid", 409, "conflict")
        if "status" in body and status != "issued":
            raise Invalid("status: a draft can only be set to issued")
        lines = self._lines(body, invoice["lines"])
        if lines is None and status is None:
            raise Invalid("Nothing to update: send lines, single-line fields or status")
        if lines is not None:
            invoice["lines"] = lines
            apply_totals(invoice)
        if status == "issued":
            invoice["status"] = "issued"
            invoice["customer"] = snapshot(tenant.customers[invoice["customer_id"]])

    def _lines(self, body: Record, current: list[Record] | None) -> list[Record] | None:
        """New line rows from `lines[]` or the single-line fields; None when neither."""
        single = {key: body[key] for key in LINE_FIELDS if key in body}
        if "lines" in body:
            if single:
                raise Invalid("Send either lines or single-line fields, not both")
            rows = body["lines"]
            if not isinstance(rows, list) or not rows:
                raise Invalid("lines: must be a non-empty array")
            if len(rows) > MAX_LINES:
                raise Invalid(f"lines: at most {MAX_LINES} lines")
            return [self._line(row, f"lines[{i}].") for i, row in enumerate(rows)]
        if not single:
            return None
        if current is None:
            return [self._line(single, "")]
        if len(current) != 1:
            raise Invalid("Single-line fields need a one-line invoice; send lines instead")
        merged = {key: current[0][key] for key in LINE_FIELDS} | single
        return [self._line(merged, "", current[0]["id"])]

    def _line(self, row: Any, where: str, line_id: str | None = None) -> Record:
        if not isinstance(row, dict):
            raise Invalid(f"{where.rstrip('.')}: must be an object")
        description = text_field(row, "description", required=True, where=where)
        quantity = number_field(row, "quantity", Decimal(1), where)
        unit_price = number_field(row, "unit_price", None, where)
        tax_rate = number_field(row, "tax_rate", Decimal(0), where)
        # Each refusal names its field first, as every 422 message here does.
        if quantity <= 0:
            raise Invalid(f"{where}quantity: must be greater than 0")
        if unit_price < 0:
            raise Invalid(f"{where}unit_price: must not be negative")
        if not 0 <= tax_rate <= 100:
            raise Invalid(f"{where}tax_rate: must be between 0 and 100")
        line_id = line_id or new_id(self._ids)
        return make_line(line_id, description or "", quantity, unit_price, tax_rate)

    async def _delete_invoice(self, request: Request) -> Response:
        tenant = self._tenant(request)
        invoice = self._record(tenant.invoices, request)
        if invoice is None:
            return error(404, "not_found", "Invoice not found")
        if invoice["status"] != "draft":
            return error(
                409, "conflict", f"Invoice is {invoice['status']}: only drafts can be deleted"
            )
        del tenant.invoices[invoice["id"]]
        return Response(status_code=204)


def _page(request: Request, records: list[Record], statuses: list[str] | None) -> Response:
    try:
        limit = int(request.query_params.get("limit", "100"))
        offset = int(request.query_params.get("offset", "0"))
    except ValueError:
        return error(400, "invalid_request", "limit and offset must be integers")
    if not 1 <= limit <= 100 or offset < 0:
        return error(400, "invalid_request", "limit must be 1-100 and offset >= 0")
    records = sorted(records, key=list_key)
    meta: dict[str, Any] = {"limit": limit, "offset": offset, "total": len(records)}
    if statuses is not None:
        meta["status"] = statuses
    return json_response({"data": to_wire(records[offset : offset + limit]), "meta": meta})


async def _body(request: Request) -> Record:
    try:
        body = json.loads(await request.body(), parse_float=Decimal)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise Invalid("Body must be a JSON object", 400, "invalid_request")
    return body
