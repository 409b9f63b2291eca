"""What the gateway does with an invoice event, wherever it came from.

One place for both origins: a verified webhook (`accept`) and a successful write through
the gateway (`publish_write`). Either way the source's cached reads are dropped, the
source's adapter reacts (the MakersHub index), and the event is published on the bus.

Echoes: an upstream also sends a webhook for a write the gateway made itself. The gateway
event already told subscribers, so a webhook event for the same invoice arriving within
`echo_seconds` after it is absorbed (caches and index still updated, nothing published)
when it is the same kind of news: the same type, or both plain changes (neither CREATED
nor DELETED). The window is per process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from gateway.adapters import Adapter
from gateway.domain.events import EventOrigin, InvoiceEvent, InvoiceEventType
from gateway.events.bus import EventBus

logger = logging.getLogger("invoice_gateway.events")
ECHO_SECONDS = 30.0
_LIFECYCLE = frozenset({InvoiceEventType.CREATED, InvoiceEventType.DELETED})


class EventHub:
    def __init__(
        self,
        adapters: Mapping[str, Adapter],
        bus: EventBus,
        echo_seconds: float = ECHO_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.adapters = adapters
        self.bus = bus
        self.echo_seconds = echo_seconds
        self._clock = clock
        # (source, remote id) -> (when, type) of the gateway's own recent writes
        self._writes: dict[tuple[str, str], tuple[float, InvoiceEventType]] = {}

    async def accept(self, source: str, events: Sequence[InvoiceEvent]) -> int:
        """Act on a verified webhook delivery's events; returns how many were published."""
        adapter = self.adapters[source]
        adapter.client.cache.clear()  # even a delivery with no invoice event (a customer)
        published = 0
        for event in events:
            await adapter.on_event(event)
            if self._is_echo(event):
                logger.info("webhook %s for %s:%s absorbed: echo of a gateway write",
                            event.upstream, source, event.remote_id)
                continue
            await self.bus.publish(event)
            published += 1
        return published

    async def publish_write(
        self,
        source: str,
        remote_id: str,
        type: InvoiceEventType,
        upstream: str = "",
        occurred_at: datetime | None = None,
    ) -> InvoiceEvent:
        """Publish a successful write through the gateway (origin GATEWAY).

        The single call every mutation makes after its upstream write succeeded, with the
        invoice's source and remote id (`upstream`: the mutation's name).
        """
        event = InvoiceEvent(type, source, remote_id, EventOrigin.GATEWAY, upstream)
        if occurred_at is not None:
            event = replace(event, occurred_at=occurred_at)
        adapter = self.adapters[source]
        adapter.client.cache.clear()
        await adapter.on_event(event)
        self._forget_old()
        self._writes[(source, remote_id)] = (self._clock(), type)
        await self.bus.publish(event)
        return event

    def _is_echo(self, event: InvoiceEvent) -> bool:
        write = self._writes.get((event.source, event.remote_id))
        if write is None or self._clock() - write[0] > self.echo_seconds:
            return False
        kind = write[1]
        return kind is event.type or (kind not in _LIFECYCLE and event.type not in _LIFECYCLE)

    def _forget_old(self) -> None:
        horizon = self._clock() - self.echo_seconds
        for key in [key for key, (at, _) in self._writes.items() if at < horizon]:
            del self._writes[key]
