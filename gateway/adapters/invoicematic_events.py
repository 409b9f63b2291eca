"""Invoicematic webhook deliveries as invoice events (seed 003, "Webhooks").

Headers: `X-Webhook-Signature` (hex HMAC-SHA256 of the raw body), `X-Webhook-Event`,
`X-Webhook-Delivery-Id`, `X-Webhook-Timestamp` (Unix seconds). Body:
`{"event": "invoice.created", "timestamp": "<ISO 8601>", "data": {...}}`.

Only the signature authenticates the body. The timestamp header is checked against the
clock (more than `TOLERANCE_SECONDS` away is refused as stale) and the receiver remembers
accepted delivery ids; but both headers are outside the signature, so a replayed body with
a new delivery id and a fresh timestamp header would pass them. The replay guard proper is
the body's own `timestamp` (signed; within the tolerance) and the body's digest (a body
accepted once is a duplicate), checked by the receiver (`gateway.web.webhooks`).

Event mapping: invoice.created/updated/deleted/paid are CREATED/UPDATED/DELETED/PAID;
invoice.sent/viewed/overdue are STATUS_CHANGED; payment.received/deleted move the
`due_amount` of the invoice in `data.invoice_id`, so they are UPDATED for that invoice.
Estimates, customers and expenses carry no invoice event (their delivery still drops the
source's cached reads, since invoices embed their customer).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime

from gateway.adapters.base import SIGNED_TIME_TOLERANCE, signed_time, webhook_id
from gateway.domain.events import EventOrigin, InvoiceEvent, InvoiceEventType
from gateway.errors import WebhookRefused

TOLERANCE_SECONDS = SIGNED_TIME_TOLERANCE
INVOICE_EVENTS: dict[str, InvoiceEventType] = {
    "invoice.created": InvoiceEventType.CREATED,
    "invoice.updated": InvoiceEventType.UPDATED,
    "invoice.deleted": InvoiceEventType.DELETED,
    "invoice.sent": InvoiceEventType.STATUS_CHANGED,
    "invoice.viewed": InvoiceEventType.STATUS_CHANGED,
    "invoice.overdue": InvoiceEventType.STATUS_CHANGED,
    "invoice.paid": InvoiceEventType.PAID,
}
PAYMENT_EVENTS = frozenset({"payment.received", "payment.deleted"})


def check_timestamp(headers: Mapping[str, str], now: float) -> None:
    raw = headers.get("x-webhook-timestamp", "").strip()
    if not raw.lstrip("-").isdigit():
        raise WebhookRefused(401, "missing or malformed X-Webhook-Timestamp (Unix seconds)")
    skew = abs(now - int(raw))
    if skew > TOLERANCE_SECONDS:
        raise WebhookRefused(
            401, f"stale delivery: X-Webhook-Timestamp is {skew:.0f}s away from now "
            f"(tolerance {TOLERANCE_SECONDS}s)"
        )


def delivery_id(headers: Mapping[str, str]) -> str:
    value = headers.get("x-webhook-delivery-id", "").strip()
    if not value or len(value) > 200:
        raise WebhookRefused(400, "missing or malformed X-Webhook-Delivery-Id")
    return value


def parse_events(source: str, body: bytes) -> tuple[list[InvoiceEvent], datetime]:
    """The invoice events of a verified delivery body and the time it states;
    `WebhookRefused` (400) if unreadable."""
    try:
        data = json.loads(body)
    except ValueError:
        raise WebhookRefused(400, "body is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("event"), str):
        raise WebhookRefused(400, "body must be an object with a string 'event'")
    name: str = data["event"]
    record = data.get("data")
    if not isinstance(record, dict):
        raise WebhookRefused(400, f"{name}: 'data' must be an object")
    remote_id: str | None = None
    if name in INVOICE_EVENTS:
        remote_id = webhook_id(record.get("id"), f"{name}: data.id")
    elif name in PAYMENT_EVENTS and record.get("invoice_id") is not None:
        remote_id = webhook_id(record.get("invoice_id"), f"{name}: data.invoice_id")
    occurred = signed_time(data.get("timestamp"), "timestamp")
    if remote_id is None:
        return [], occurred
    kind = INVOICE_EVENTS.get(name, InvoiceEventType.UPDATED)
    return [InvoiceEvent(kind, source, remote_id, EventOrigin.WEBHOOK, name, occurred)], occurred
