"""What the gateway does with an invoice event, wherever it came from.

One place for both origins: a verified webhook (`accept`) and a successful write through
the gateway (`publish_write`). Either way the source's cached reads are dropped, the
source's adapter reacts (the MakersHub index), and the event is published on the bus.

Echoes: an upstream also sends a webhook for a write the gateway made itself. The gateway
event already told subscribers, so a webhook event for the same invoice arriving within
`echo_seconds` after it is absorbed (caches and index still updated, nothing published)
when it is the same kind of news: the same type, or both plain changes (neither CREATED
nor DELETED). The window is per process.

The change feed (`gateway.events.feed`, docs/changes.md): a webhook's changes are recorded
by `record_delivery` before the delivery is accepted (the webhook receiver answers 503
while that fails, so the upstream delivers again); a gateway write's change is recorded by
`publish_write`, and a failure there is logged, never the write's: its webhook echo is then
recorded instead of absorbed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from gateway.adapters import Adapter
from gateway.domain.events import EventOrigin, InvoiceEvent, InvoiceEventType
from gateway.errors import StateUnavailable
from gateway.events.bus import EventBus
from gateway.events.feed import ChangeFeed, gateway_change, webhook_changes

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
        feed: ChangeFeed | None = None,
    ) -> None:
        self.adapters = adapters
        self.bus = bus
        self.echo_seconds = echo_seconds
        self._clock = clock
        self.feed = feed
        # (source, remote id) -> (when, type, whether its change is in the feed) of the
        # gateway's own recent writes
        self._writes: dict[tuple[str, str], tuple[float, InvoiceEventType, bool]] = {}

    async def record_delivery(
        self, source: str, events: Sequence[InvoiceEvent], delivery_key: str
    ) -> int:
        """Record a verified delivery's changes in the feed (echoes of a gateway write whose
        change is recorded excepted); returns how many were new. Safe to repeat for a
        redelivery: the same events are the same changes. `StateUnavailable` propagates."""
        if self.feed is None:
            return 0
        news = [event for event in events if not self._is_echo(event, in_feed=True)]
        return await self.feed.record(webhook_changes(source, news, delivery_key))

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
        version: str | None = None,
    ) -> InvoiceEvent:
        """Publish a successful write through the gateway (origin GATEWAY).

        The single call every mutation makes after its upstream write succeeded, with the
        invoice's source and remote id (`upstream`: the mutation's name; `version`: the
        invoice's version after the write, where its answer told it).
        """
        event = InvoiceEvent(type, source, remote_id, EventOrigin.GATEWAY, upstream)
        if occurred_at is not None:
            event = replace(event, occurred_at=occurred_at)
        adapter = self.adapters[source]
        adapter.client.cache.clear()
        recorded = await self._record_write(event, version)
        await adapter.on_event(event)
        self._forget_old()
        self._writes[(source, remote_id)] = (self._clock(), type, recorded)
        await self.bus.publish(event)
        return event

    async def _record_write(self, event: InvoiceEvent, version: str | None) -> bool:
        if self.feed is None:
            return False
        try:
            await self.feed.record([gateway_change(event, version)])
        except StateUnavailable as exc:
            # The write is made and is answered; its webhook echo, if the upstream sends
            # one, is recorded instead (docs/changes.md).
            logger.warning("change of %s %s:%s not recorded in the feed: %s", event.upstream,
                           event.source, event.remote_id, exc)
            return False
        return True

    def _is_echo(self, event: InvoiceEvent, in_feed: bool = False) -> bool:
        """Whether `event` is the webhook echo of a recent gateway write (`in_feed`: of one
        whose change the feed holds)."""
        write = self._writes.get((event.source, event.remote_id))
        if write is None or self._clock() - write[0] > self.echo_seconds:
            return False
        if in_feed and not write[2]:
            return False
        kind = write[1]
        return kind is event.type or (kind not in _LIFECYCLE and event.type not in _LIFECYCLE)

    def _forget_old(self) -> None:
        horizon = self._clock() - self.echo_seconds
        for key in [key for key, (at, _, _) in self._writes.items() if at < horizon]:
            del self._writes[key]
