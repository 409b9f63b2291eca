"""The change feed's records (contract "Ordering, finding and incremental sync (v3)",
docs/changes.md): what `invoiceChanges` serves, and its cursors. No I/O.

A change is news about one invoice, reduced to what an incremental sync acts on: CREATED,
UPDATED, DELETED or PAID. The gateway's seven event types map onto these four
(`CHANGE_TYPES`): approval, rejection and every other status change are UPDATED.

Each change carries a dedup key; the store keeps at most one change per key, so a change
seen twice (a webhook delivered again, a poll finding what a webhook or a gateway write
already reported) is recorded once. `dedup_key` is the rule, in one place.
"""

from __future__ import annotations

import base64
import binascii
import enum
from dataclasses import dataclass
from datetime import datetime

from gateway.domain.events import InvoiceEventType
from gateway.errors import InvalidCursor


class ChangeType(enum.Enum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    DELETED = "DELETED"
    PAID = "PAID"


class ChangeOrigin(enum.Enum):
    WEBHOOK = "WEBHOOK"  # an upstream's webhook
    GATEWAY = "GATEWAY"  # a write through the gateway
    SYNC = "SYNC"  # found by polling a source (`sync_interval`)


CHANGE_TYPES: dict[InvoiceEventType, ChangeType] = {
    InvoiceEventType.CREATED: ChangeType.CREATED,
    InvoiceEventType.UPDATED: ChangeType.UPDATED,
    InvoiceEventType.STATUS_CHANGED: ChangeType.UPDATED,
    InvoiceEventType.APPROVED: ChangeType.UPDATED,
    InvoiceEventType.REJECTED: ChangeType.UPDATED,
    InvoiceEventType.DELETED: ChangeType.DELETED,
    InvoiceEventType.PAID: ChangeType.PAID,
}


def dedup_key(
    source: str, remote_id: str, type: ChangeType, version: str | None, fallback: str
) -> str:
    """The key under which a change is recorded at most once.

    - CREATED and DELETED happen once in an invoice's life: `source|id|CREATED` whatever
      reported them.
    - UPDATED and PAID with a known version (the invoice's `updatedAt` after the change):
      `source|id|CHANGED|version`: one change per version of an invoice, PAID or not.
    - Otherwise `fallback`, unique to the report (a webhook's event id or body digest and
      the event's place in it, so that a redelivery of the same body is the same change;
      a gateway write's event id).
    """
    if type in (ChangeType.CREATED, ChangeType.DELETED):
        return f"{source}|{remote_id}|{type.value}"
    if version:
        return f"{source}|{remote_id}|CHANGED|{version}"
    return fallback


def version_of(updated_at: datetime | None) -> str | None:
    """An invoice's version as dedup keys compare it: its `updatedAt` as an instant."""
    return None if updated_at is None else f"{updated_at.timestamp():.6f}"


@dataclass(frozen=True)
class NewChange:
    """A change about to be recorded (the store gives it its sequence number)."""

    type: ChangeType
    source: str
    remote_id: str
    origin: ChangeOrigin
    at: datetime  # when it happened, as well as the gateway knows
    key: str  # see `dedup_key`


@dataclass(frozen=True)
class Change:
    """A recorded change: `seq` is its place in the feed (increasing, never reused)."""

    seq: int
    type: ChangeType
    source: str
    remote_id: str
    origin: ChangeOrigin
    at: datetime


_PREFIX = "ch1|"


def change_cursor(seq: int) -> str:
    """The opaque cursor just after change `seq`."""
    return base64.urlsafe_b64encode(f"{_PREFIX}{seq}".encode()).decode().rstrip("=")


def change_id(seq: int) -> str:
    return base64.urlsafe_b64encode(f"InvoiceChange:{seq}".encode()).decode().rstrip("=")


def decode_change_cursor(value: str) -> int:
    """The sequence a feed cursor points after; `InvalidCursor` when it is not one."""
    try:
        text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    number = text.removeprefix(_PREFIX)
    if not text.startswith(_PREFIX) or not number.isdigit():
        raise InvalidCursor(f"{value!r} is not a cursor of invoiceChanges")
    return int(number)

