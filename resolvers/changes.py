"""`invoiceChanges`: the durable change feed for incremental sync (docs/changes.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from gateway.domain import changes
from gateway.domain.ids import encode_id
from gateway.errors import BadInput, InvalidPaging
from gateway.events.feed import ChangeFeed
from gateway.lists.paging import DEFAULT_FIRST, MAX_FIRST
from resolvers.connections import Connection, Edge, connection_of
from resolvers.context import Info

InvoiceChangeType = strawberry.enum(
    changes.ChangeType,
    name="InvoiceChangeType",
    description="What changed: CREATED, UPDATED (status changes, approval and rejection "
    "included), DELETED (merged away included), PAID.",
)
ChangeOrigin = strawberry.enum(
    changes.ChangeOrigin,
    description="WEBHOOK: an upstream's webhook. GATEWAY: a write through the gateway. "
    "SYNC: found by polling the source (`sync_interval`).",
)


@strawberry.type(description="One change in the feed: refetch the invoice (or drop it, when "
                 "DELETED).")
class InvoiceChange:
    change: strawberry.Private[changes.Change]

    @strawberry.field(description="The change's own id (unique in the feed).")
    def id(self) -> strawberry.ID:
        return strawberry.ID(changes.change_id(self.change.seq))

    @strawberry.field(description="What changed.")
    def type(self) -> changes.ChangeType:
        return self.change.type

    @strawberry.field(description="Global id of the invoice (as `Invoice.id`).")
    def invoice_id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Invoice", self.change.source, self.change.remote_id))

    @strawberry.field(description="Name of the invoice's source.")
    def source(self) -> str:
        return self.change.source

    @strawberry.field(description="The upstream's own id of the invoice.")
    def remote_id(self) -> str:
        return self.change.remote_id

    @strawberry.field(description="When it happened, as well as the gateway knows: the "
                      "webhook's time, the write's, or the poll's (the invoice's `updatedAt` "
                      "is not used: not every source has one).")
    def at(self) -> datetime:
        return self.change.at

    @strawberry.field(description="How the gateway learned of it.")
    def origin(self) -> changes.ChangeOrigin:
        return self.change.origin


@strawberry.type
class ChangesQuery:
    @strawberry.field(description="Changes to invoices, oldest first, kept "
                      "`changes_retention_days` (default 30). Pass the `endCursor` of the "
                      "last page read as `after` to resume, after a restart or on another "
                      "replica; a cursor older than the retention is CURSOR_EXPIRED.")
    async def invoice_changes(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(
            description="How many changes to return (0-500, default 50).")] = None,
        after: Annotated[str | None, strawberry.argument(
            description="Return the changes after this cursor (an `endCursor`).")] = None,
    ) -> Connection[InvoiceChange]:
        feed = _feed(info)
        limit = DEFAULT_FIRST if first is None else first
        if not 0 <= limit <= MAX_FIRST:
            raise InvalidPaging(f"'first' must be between 0 and {MAX_FIRST}, got {limit}")
        context = info.context
        # Only the changes of sources the caller may read (all: no filter at all).
        readable = None if context.adapters.keys() == context.configured.keys() else list(
            context.adapters)
        page = await feed.read(after, limit, readable)
        edges = [Edge(cursor=changes.change_cursor(change.seq), node=InvoiceChange(change=change))
                 for change in page.changes]
        return connection_of(edges, page.has_next, after)


def _feed(info: Info) -> ChangeFeed:
    events = info.context.events
    if events is None or events.feed is None:
        raise BadInput("this gateway keeps no change feed")
    return events.feed
