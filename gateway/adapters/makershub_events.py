"""MakersHub webhook deliveries as invoice events (docs/upstreams/makershub.md, "Webhooks").

Body: `{"eventNotification": {"cid", "name": "Invoice", "id", "operation", "timestamp",
"context"}}`, signed in `X-Signature` (hex HMAC-SHA256 of the raw body). There is no
delivery id and no timestamp header: the replay guard is the signed body itself, its
`timestamp` within the tolerance and its digest not seen before (`gateway.web.webhooks`).

Operation mapping: Created is CREATED; Updated and Processed (OCR done, fields filled in)
are UPDATED; Approved and Rejected are APPROVED and REJECTED; Deleted is DELETED; Combined
(bills grouped under a new parent id) is CREATED for the group; Merged is DELETED for
`context.mergeFromId` and UPDATED for `context.mergeToId`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from gateway.adapters.base import signed_time, webhook_id
from gateway.domain.events import EventOrigin, InvoiceEvent, InvoiceEventType
from gateway.errors import WebhookRefused

OPERATIONS: dict[str, InvoiceEventType] = {
    "Created": InvoiceEventType.CREATED,
    "Updated": InvoiceEventType.UPDATED,
    "Processed": InvoiceEventType.UPDATED,
    "Approved": InvoiceEventType.APPROVED,
    "Rejected": InvoiceEventType.REJECTED,
    "Deleted": InvoiceEventType.DELETED,
    "Combined": InvoiceEventType.CREATED,
}


def parse_events(source: str, body: bytes) -> tuple[list[InvoiceEvent], datetime]:
    """The invoice events of a verified delivery body and the time it states;
    `WebhookRefused` (400) if unreadable."""
    try:
        data = json.loads(body)
    except ValueError:
        raise WebhookRefused(400, "body is not JSON") from None
    note = data.get("eventNotification") if isinstance(data, dict) else None
    if not isinstance(note, dict):
        raise WebhookRefused(400, "body must be an object with an 'eventNotification' object")
    occurred = signed_time(note.get("timestamp"), "eventNotification.timestamp")
    if note.get("name") != "Invoice":
        return [], occurred  # only invoices are documented; nothing else to publish
    operation = note.get("operation")
    if operation != "Merged" and operation not in OPERATIONS:
        raise WebhookRefused(400, f"eventNotification.operation {str(operation)[:40]!r} "
                             f"is not one of {', '.join([*OPERATIONS, 'Merged'])}")
    raw_context = note.get("context")
    context: dict[str, Any] = raw_context if isinstance(raw_context, dict) else {}

    def event(kind: InvoiceEventType, remote_id: str) -> InvoiceEvent:
        return InvoiceEvent(kind, source, remote_id, EventOrigin.WEBHOOK, str(operation),
                            occurred, dict(context))

    if operation == "Merged":
        merged_from = webhook_id(context.get("mergeFromId"), "context.mergeFromId")
        merged_to = webhook_id(context.get("mergeToId"), "context.mergeToId")
        return [event(InvoiceEventType.DELETED, merged_from),
                event(InvoiceEventType.UPDATED, merged_to)], occurred
    remote_id = webhook_id(note.get("id"), "eventNotification.id")
    return [event(OPERATIONS[operation], remote_id)], occurred
