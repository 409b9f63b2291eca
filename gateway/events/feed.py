"""The durable change feed behind `invoiceChanges` (docs/changes.md).

Changes are appended to the state store (SQLite, or PostgreSQL shared by replicas) with an
increasing sequence number; a cursor is "after sequence N", so it resumes the feed after a
restart or on another replica. Changes are kept `changes_retention_days` and then pruned;
a cursor from before the last pruned change answers CURSOR_EXPIRED.

Three paths append: webhooks and the gateway's own writes (through the event hub), and
polling (`gateway.events.sync`). `gateway.domain.changes.dedup_key` says when two reports
are one change.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from gateway.domain.changes import (
    CHANGE_TYPES,
    Change,
    ChangeOrigin,
    NewChange,
    decode_change_cursor,
    dedup_key,
)
from gateway.domain.events import InvoiceEvent
from gateway.errors import CursorExpired, StateUnavailable
from gateway.state.base import StateStore

logger = logging.getLogger("invoice_gateway.changes")
DAY = 86400.0
PRUNE_EVERY = 3600.0  # seconds between two prunings of the feed


@dataclass(frozen=True)
class FeedPage:
    changes: list[Change]
    has_next: bool


class ChangeFeed:
    """Appending to and reading the feed; `clock` (epoch seconds) is injectable for tests."""

    def __init__(
        self,
        store: StateStore,
        retention_days: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.retention = retention_days * DAY
        self.clock = clock

    async def record(self, changes: Sequence[NewChange]) -> int:
        """Append `changes` (those whose dedup key is new); `StateUnavailable` when the store
        is down."""
        return await self.store.record_changes(changes, self.clock())

    async def read(
        self, after: str | None, first: int, sources: Collection[str] | None = None
    ) -> FeedPage:
        """Up to `first` changes after the cursor `after` (from the oldest kept without
        one), of `sources` only when given."""
        position = 0 if after is None else decode_change_cursor(after)
        changes, pruned_through = await self.store.read_changes(position, first + 1, sources)
        if after is not None and position < pruned_through:
            days = self.retention / DAY
            raise CursorExpired(
                f"cursor {after!r} is older than the change retention ({days:g} days): the "
                "changes after it were pruned; read the data again in full, then follow the "
                "feed from its newest change"
            )
        return FeedPage(changes[:first], len(changes) > first)

    async def prune(self) -> int:
        """Drop changes older than the retention; returns how many."""
        return await self.store.prune_changes(self.clock() - self.retention)

    async def keep_pruning(self, every: float = PRUNE_EVERY) -> None:
        """The lifespan's pruning task: prune now and every `every` seconds, for ever; a
        store that is down is tried again next time."""
        while True:
            try:
                pruned = await self.prune()
                if pruned:
                    logger.info("change feed: pruned %d change(s) past the retention", pruned)
            except StateUnavailable as exc:
                logger.warning("change feed not pruned: %s", exc)
            except Exception:  # a bug must not end pruning unseen: logged, tried again
                logger.exception("change feed not pruned")
            await asyncio.sleep(every)


def webhook_changes(
    source: str, events: Sequence[InvoiceEvent], delivery_key: str
) -> list[NewChange]:
    """The changes of one webhook delivery; `delivery_key` (its event id, or its body's
    digest) makes a redelivery of the same events the same changes."""
    changes = []
    for place, event in enumerate(events):
        kind = CHANGE_TYPES[event.type]
        key = dedup_key(source, event.remote_id, kind, None,
                        f"webhook|{source}|{delivery_key}|{place}")
        changes.append(NewChange(kind, source, event.remote_id, ChangeOrigin.WEBHOOK,
                                 event.occurred_at, key))
    return changes


def gateway_change(event: InvoiceEvent, version: str | None) -> NewChange:
    """The change a write through the gateway made; `version`: the invoice's version after
    it, where the write's answer told it (a poll finding that version is the same change)."""
    kind = CHANGE_TYPES[event.type]
    key = dedup_key(event.source, event.remote_id, kind, version, f"gateway|{event.id}")
    return NewChange(kind, event.source, event.remote_id, ChangeOrigin.GATEWAY,
                     event.occurred_at, key)
