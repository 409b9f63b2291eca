"""The root Subscription: `invoiceEvents`, over graphql-transport-ws on `/graphql`."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated

import strawberry

from gateway.domain import events
from gateway.domain.ids import encode_id
from gateway.errors import BadInput, UpstreamNotFound
from gateway.lists.loaders import Loaders
from resolvers.context import Info
from resolvers.types import Invoice

InvoiceEventType = strawberry.enum(
    events.InvoiceEventType,
    description="What happened to an invoice (docs/events.md maps each upstream's events).",
)
EventOrigin = strawberry.enum(
    events.EventOrigin,
    description="WEBHOOK: an upstream told the gateway. GATEWAY: a write through the gateway.",
)


@strawberry.type(description="Something happened to an invoice.")
class InvoiceEvent:
    event: strawberry.Private[events.InvoiceEvent]

    @strawberry.field(description="The event's own id (unique per event).")
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.event.id)

    @strawberry.field(description="What happened.")
    def type(self) -> events.InvoiceEventType:
        return self.event.type

    @strawberry.field(description="Name of the invoice's source.")
    def source(self) -> str:
        return self.event.source

    @strawberry.field(description="The upstream's own id of the invoice.")
    def remote_id(self) -> str:
        return self.event.remote_id

    @strawberry.field(description="Global id of the invoice (as `Invoice.id`).")
    def invoice_id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Invoice", self.event.source, self.event.remote_id))

    @strawberry.field(description="When it happened (the upstream's time where it sends one).")
    def occurred_at(self) -> datetime:
        return self.event.occurred_at

    @strawberry.field(description="Who told the gateway: an upstream webhook, or its own write.")
    def origin(self) -> events.EventOrigin:
        return self.event.origin

    @strawberry.field(description="The invoice as it is now, fetched fresh from its source; "
                      "null once deleted.")
    async def invoice(self, info: Info) -> Invoice | None:
        if self.event.type is events.InvoiceEventType.DELETED:
            return None
        adapter = info.context.adapter(self.event.source)
        try:
            return Invoice.of(await adapter.get_invoice(self.event.remote_id))
        except UpstreamNotFound:
            return None


@strawberry.type(description="Live updates.")
class Subscription:
    @strawberry.subscription(description="Invoice events as they happen, from upstream "
                             "webhooks and from writes through the gateway; optionally only "
                             "of some sources and types.")
    async def invoice_events(
        self,
        info: Info,
        sources: Annotated[list[str] | None, strawberry.argument(
            description="Only events of these sources (by configured name).")] = None,
        types: Annotated[list[events.InvoiceEventType] | None, strawberry.argument(
            description="Only events of these types.")] = None,
    ) -> AsyncGenerator[InvoiceEvent, None]:
        context = info.context
        for name in sources or ():
            context.adapter(name)  # an unknown name is bad input, not a silent stream
        if context.events is None:
            raise BadInput("events are not available on this gateway")
        # A caller sees the events of the sources it may read, and no others.
        readable = sources
        if readable is None and len(context.adapters) < len(context.configured):
            readable = list(context.adapters)
        async with context.events.bus.subscribe(readable, types) as subscriber:
            async for event in subscriber:
                # The connection's context lives as long as the socket: fresh loaders and
                # errors per event, so no event sees another's cached records.
                previous, context.loaders = context.loaders, Loaders(context.adapters)
                previous.release()  # the previous event has been sent
                context.partial_errors = []
                yield InvoiceEvent(event=event)
