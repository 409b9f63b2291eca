"""MakersHub simulator: `/v1/invoices/{invoiceId}` GET and PATCH, `POST /v1/invoices`.

Follows `docs/upstreams/makershub.md` and seed 001. There is deliberately no list
endpoint (`GET /v1/invoices` answers Starlette's 405, as a route exists only for POST).
Every reply is the `{"status", "msg", "result"}` envelope.

Choices where the contract is silent:
- OCR: a document posted with `data` is "processed" on the third GET of its id: the first
  `OCR_PENDING_READS` (2) GETs return the record with empty fields, the next one fills it
  in (new `hash_id` and `modified`). A PATCH before then is refused with 400
  "Invoice is being processed".
- A second token, `READ_ONLY_TOKEN`, may read but gets 403 "Forbidden" on writes.
- PATCH replaces each top-level field sent (a sent `supplier_info` replaces the stored one);
  a field that is not updatable is a 400 naming it; a group id (which has no record of its
  own) is a 400 "Grouped invoice cannot be updated".
- Time: writes stamp `modified` with `SIM_NOW` plus one second per write, never the clock.
- Webhooks (to the target set through `/_sim/webhook`): Created for a create or a queued
  document, Updated for a PATCH, Processed when OCR fills a document in; signed in
  `X-Signature`, timestamped with the real clock.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.simulators.base import SIM_NOW, Simulator, json_response
from gateway.simulators.makershub_data import (
    Record,
    empty_invoice,
    empty_item,
    new_hash,
    ocr_result,
    seed_invoices,
    stamp,
)

OCR_PENDING_READS = 2
COMPANY_ID = 1001
READ_ONLY_TOKEN = "sim-token-readonly"
UPDATABLE = (
    "supplier_info",
    "ship_to",
    "bill_to",
    "invoice_number",
    "po_number",
    "invoice_terms",
    "invoice_date",
    "invoice_due",
    "invoice_items",
    "invoice_total",
    "tags",
)
_SUBFIELDS = {
    "supplier_info": ("name", "web", "email", "phone_number", "address", "supplierId"),
    "ship_to": ("name", "address"),
    "bill_to": ("name", "address", "memo", "departmentId", "entityId"),
}
_ITEM_REQUIRED = {
    "id": "string",
    "qty": "number",
    "price": "number",
    "total": "number",
    "description": "string",
}
_ITEM_OPTIONAL = {
    **{
        key: "string"
        for key in (
            "sku",
            "itemId",
            "customerId",
            "accountId",
            "classId",
            "poId",
            "poLineId",
            "departmentId",
            "entityId",
            "taxId",
        )
    },
    "billable": "boolean",
    "taxInclusive": "boolean",
}
_DIGITS = re.compile(r"[0-9]+")


def _reply(status: int, msg: str, result: list[Any] | None = None) -> Response:
    return json_response(
        {"status": "OK" if status < 400 else "Error", "msg": msg, "result": result}, status
    )


def _is_type(value: Any, kind: str) -> bool:
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    return isinstance(value, str)


def _check_date(name: str, value: Any) -> str | None:
    if value is None:
        return None
    try:
        if isinstance(value, str) and len(value) == 10:
            date.fromisoformat(value)
            return None
    except ValueError:
        pass
    return f"{name} must be a date (YYYY-MM-DD)"


def _check_field(name: str, value: Any) -> str | None:
    """None when `value` is acceptable for the updatable field `name`, else the 400 msg."""
    if name in _SUBFIELDS:
        if not isinstance(value, dict):
            return f"{name} must be an object"
        for key, sub in value.items():
            if key not in _SUBFIELDS[name]:
                return f"{name}.{key} is not a known field"
            if sub is not None and not isinstance(sub, str):
                return f"{name}.{key} must be a string"
        return None
    if name in ("invoice_date", "invoice_due"):
        return _check_date(name, value)
    if name == "invoice_total":
        return None if value is None or _is_type(value, "number") else f"{name} must be a number"
    if name == "invoice_items":
        if not isinstance(value, list):
            return f"{name} must be an array"
        for index, item in enumerate(value):
            problem = _check_item(f"{name}[{index}]", item)
            if problem:
                return problem
        return None
    return None if value is None or isinstance(value, str) else f"{name} must be a string"


def _check_item(where: str, item: Any) -> str | None:
    if not isinstance(item, dict):
        return f"{where} must be an object"
    for key, kind in _ITEM_REQUIRED.items():
        if key not in item or item[key] is None:
            return f"{where}.{key} is required"
        if not _is_type(item[key], kind):
            return f"{where}.{key} must be a {kind}"
    for key, value in item.items():
        if key in _ITEM_REQUIRED:
            continue
        if key not in _ITEM_OPTIONAL:
            return f"{where}.{key} is not a known field"
        if value is not None and not _is_type(value, _ITEM_OPTIONAL[key]):
            return f"{where}.{key} must be a {_ITEM_OPTIONAL[key]}"
    return None


def _check_fields(body: dict[str, Any], verb: str) -> str | None:
    for name, value in body.items():
        if name not in UPDATABLE:
            return f"Field {name} cannot be {verb}"
        problem = _check_field(name, value)
        if problem:
            return problem
    return None


class MakersHubSimulator(Simulator):
    kind = "makershub"
    api_prefix = "/server/external/api"
    sends_webhooks = True

    invoices: dict[int, Record]
    groups: dict[int, list[int]]

    # --- Simulator hooks --------------------------------------------------------------
    def seed_data(self, rng: random.Random) -> None:
        seeded = seed_invoices(rng, self.invoice_count)
        self.invoices = seeded.invoices
        self.groups = seeded.groups
        self._rng = random.Random(rng.getrandbits(64))  # hashes and OCR output after seeding
        self._ocr_pending: dict[int, int] = {}
        self._writes = 0

    def api_routes(self) -> list[BaseRoute]:
        return [
            Route("/v1/invoices", self._create, methods=["POST"]),
            Route("/v1/invoices/{invoice_id}", self._get, methods=["GET"]),
            Route("/v1/invoices/{invoice_id}", self._update, methods=["PATCH"]),
        ]

    def unauthorized(self) -> Response:
        return _reply(401, "Unauthorized")

    def authenticate(self, request: Request) -> Response | None:
        if self._bearer(request) == READ_ONLY_TOKEN:
            return None
        return super().authenticate(request)

    def remote_ids(self, resource: str) -> list[str]:
        if resource != "invoices":
            return []  # MakersHub has no customers, vendors or payments endpoints
        return [str(i) for i in sorted({*self.invoices, *self.groups})]

    def listed_ids(self, resource: str) -> list[str]:
        # A group lists once, as itself: its children are not listed on their own.
        return [i for i in self.remote_ids(resource)
                if int(i) in self.groups or self.invoices[int(i)]["parent_id"] is None]

    def missing_id(self, resource: str) -> str:
        # Ids only grow, so one below the lowest is never taken.
        return str(min({*self.invoices, *self.groups}) - 1)

    def describe(self) -> dict[str, str]:
        return {"read_only_token": READ_ONLY_TOKEN}

    def group_ids(self) -> list[str]:
        """Ids of the grouped (combined) invoices, ascending; for tests."""
        return [str(i) for i in sorted(self.groups)]

    # --- handlers ---------------------------------------------------------------------
    async def _get(self, request: Request) -> Response:
        invoice_id = _parse_id(request.path_params["invoice_id"])
        if invoice_id is None:
            return _reply(400, "Invalid invoice ID")
        if invoice_id in self.groups:
            return _reply(200, "Record found", [self._read(c) for c in self.groups[invoice_id]])
        if invoice_id not in self.invoices:
            return _reply(404, "Invoice not found")
        return _reply(200, "Record found", [self._read(invoice_id)])

    async def _update(self, request: Request) -> Response:
        invoice_id = _parse_id(request.path_params["invoice_id"])
        refused = self._refuse_write(request)
        if refused is not None:
            return refused
        if invoice_id is None:
            return _reply(400, "Invalid invoice ID")
        if invoice_id in self.groups:
            return _reply(400, "Grouped invoice cannot be updated")
        record = self.invoices.get(invoice_id)
        if record is None:
            return _reply(404, "Invoice not found")
        body = await _body(request)
        if not isinstance(body, dict):
            return body if isinstance(body, Response) else _reply(400, "Body must be an object")
        hash_id = body.pop("hash_id", None)
        if hash_id is None:
            return _reply(400, "hash_id is required")
        if not isinstance(hash_id, str):
            return _reply(400, "hash_id must be a string")
        if record["approved"] is not None or record["rejected"] is not None:
            return _reply(400, "Invoice is locked")
        if invoice_id in self._ocr_pending:
            return _reply(400, "Invoice is being processed")
        if hash_id != record["hash_id"]:
            return _reply(400, "Invoice has been modified")
        problem = _check_fields(body, "updated")
        if problem:
            return _reply(400, problem)
        self._apply(record, body)
        self._webhook("Updated", invoice_id)
        return _reply(200, "Record updated", [record])

    async def _create(self, request: Request) -> Response:
        refused = self._refuse_write(request)
        if refused is not None:
            return refused
        body = await _body(request)
        if not isinstance(body, dict):
            return body if isinstance(body, Response) else _reply(400, "Body must be an object")
        if "data" in body:
            return self._queue_document(body)
        problem = _check_fields(body, "set")
        if problem:
            return _reply(400, problem)
        record = self._new_record()
        self._apply(record, body)
        record["created"] = record["modified"]
        self._webhook("Created", record["id"])
        return _reply(200, "Record created", [record])

    # --- helpers ----------------------------------------------------------------------
    def _queue_document(self, body: dict[str, Any]) -> Response:
        for key in body:
            if key not in ("data", "filename", "type"):
                return _reply(400, f"Field {key} cannot be set with data")
        data, filename = body["data"], body.get("filename", "document.pdf")
        if not isinstance(data, str):
            return _reply(400, "data must be a string")
        try:
            content = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            return _reply(400, "data must be base64 encoded")
        if not content:
            return _reply(400, "data is required")
        for key in ("filename", "type"):
            if not isinstance(body.get(key, ""), str):
                return _reply(400, f"{key} must be a string")
        record = self._new_record()
        record["document"] = {
            "url": f"https://storage.makershub.ai/invoices/{new_hash(self._rng)}.pdf",
            "name": filename,
            "size": len(content),
        }
        self._ocr_pending[record["id"]] = OCR_PENDING_READS
        self._webhook("Created", record["id"])
        return _reply(200, "Document queued", [{"id": record["id"]}])

    def _new_record(self) -> Record:
        invoice_id = max({*self.invoices, *self.groups}) + 1
        record = empty_invoice(invoice_id, new_hash(self._rng), self._tick())
        self.invoices[invoice_id] = record
        return record

    def _read(self, invoice_id: int) -> Record:
        record = self.invoices[invoice_id]
        remaining = self._ocr_pending.get(invoice_id)
        if remaining is not None:
            if remaining > 0:
                self._ocr_pending[invoice_id] = remaining - 1
            else:
                del self._ocr_pending[invoice_id]
                ocr_result(record, self._rng, self._tick())
                record["hash_id"] = new_hash(self._rng)
                self._webhook("Processed", invoice_id)
        return record

    def _webhook(self, operation: str, invoice_id: int) -> None:
        """Send the documented event notification, signed in `X-Signature`."""
        note = {"cid": COMPANY_ID, "name": "Invoice", "id": invoice_id, "operation": operation,
                "timestamp": stamp(datetime.now(UTC)), "context": {}}
        body = json.dumps({"eventNotification": note}, separators=(",", ":")).encode()
        self.webhooks.send(body, {"X-Signature": self.webhooks.sign(body)})

    def _apply(self, record: Record, changes: dict[str, Any]) -> None:
        for name, value in changes.items():
            if name == "invoice_items":
                value = [empty_item(item) for item in value]
            elif isinstance(value, dict):
                value = dict(value)
            record[name] = value
        record["hash_id"] = new_hash(self._rng)
        record["modified"] = stamp(self._tick())

    def _tick(self) -> datetime:
        self._writes += 1
        return SIM_NOW + timedelta(seconds=self._writes)

    def _refuse_write(self, request: Request) -> Response | None:
        if self._bearer(request) == READ_ONLY_TOKEN:
            return _reply(403, "Forbidden")
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            return _reply(415, "Unsupported Media Type")
        return None

    @staticmethod
    def _bearer(request: Request) -> str:
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        return credential if scheme.lower() == "bearer" else ""


def _parse_id(raw: str) -> int | None:
    """The path id as an integer >= 1 (seed 001: `Minimum 1`), else None."""
    if not _DIGITS.fullmatch(raw):
        return None
    value = int(raw)
    return value if value >= 1 else None


async def _body(request: Request) -> Any:
    """The parsed JSON body, or the 400 reply for one that is not JSON."""
    try:
        return json.loads(await request.body())
    except ValueError:
        return _reply(400, "Invalid JSON body")
