"""Typed invoice events: what the gateway learned about one invoice, from an upstream's
webhook (origin WEBHOOK) or from a write it made itself (origin GATEWAY). Adapters turn
webhook bodies into these; `gateway.events.bus` fans them out to subscribers."""

from __future__ import annotations

import enum
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class InvoiceEventType(enum.Enum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    DELETED = "DELETED"
    STATUS_CHANGED = "STATUS_CHANGED"
    PAID = "PAID"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


class EventOrigin(enum.Enum):
    WEBHOOK = "WEBHOOK"
    GATEWAY = "GATEWAY"


@dataclass(frozen=True)
class InvoiceEvent:
    """Something happened to invoice `remote_id` of `source`.

    `upstream` is the upstream's own word for it (`invoice.paid`, `Merged`; for a write
    through the gateway, the gateway's own word, `invoice.updated`); `context` carries what
    the upstream sent with it that the gateway acts on (MakersHub `mergeToId`, say).
    """

    type: InvoiceEventType
    source: str
    remote_id: str
    origin: EventOrigin
    upstream: str = ""
    occurred_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    context: dict[str, Any] = field(default_factory=dict, compare=False)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def to_json(self) -> str:
        """The event as JSON, for a bus that crosses process boundaries."""
        return json.dumps({
            "id": self.id, "type": self.type.value, "source": self.source,
            "remote_id": self.remote_id, "origin": self.origin.value,
            "upstream": self.upstream, "occurred_at": self.occurred_at.isoformat(),
            "context": self.context,
        })

    @classmethod
    def from_json(cls, text: str | bytes) -> InvoiceEvent:
        data = json.loads(text)
        return cls(
            id=data["id"], type=InvoiceEventType(data["type"]), source=data["source"],
            remote_id=data["remote_id"], origin=EventOrigin(data["origin"]),
            upstream=data.get("upstream", ""),
            occurred_at=datetime.fromisoformat(data["occurred_at"]),
            context=data.get("context") or {},
        )


@dataclass(frozen=True)
class EventFilter:
    """Which events a subscriber wants; None means any."""

    sources: frozenset[str] | None = None
    types: frozenset[InvoiceEventType] | None = None

    def wants(self, event: InvoiceEvent) -> bool:
        if self.sources is not None and event.source not in self.sources:
            return False
        return self.types is None or event.type in self.types
