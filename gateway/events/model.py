"""Typed invoice events and the bus that fans them out to subscribers.

An `InvoiceEvent` is what the gateway learned about one invoice: from an upstream's webhook
(origin WEBHOOK) or from a write it made itself (origin GATEWAY). Adapters turn webhook
bodies into these; nothing here knows about HTTP, strawberry or any one upstream.

`EventBus` is the seam: `publish` an event, `subscribe` to get a `Subscriber` (an async
iterator with its own bounded queue). `LocalEventBus` delivers within this process. A bus
that fans out across replicas (Redis pub/sub, say) overrides `publish` to send the event's
`to_json()` to the shared channel and calls `deliver(InvoiceEvent.from_json(...))` for each
message it receives; subscribers and everything above them stay the same.

Back-pressure: `deliver` never waits. Each subscriber has a queue of `queue_size` events;
when a subscriber falls that far behind, it is cut off: its queue is emptied and its next
read raises `SubscriberOverflow` (the GraphQL subscription ends with that error, and the
client resubscribes and refetches). The publisher and every other subscriber carry on.
"""

from __future__ import annotations

import abc
import asyncio
import enum
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DEFAULT_QUEUE_SIZE = 256


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


class SubscriberOverflow(Exception):
    """The subscriber fell more than its queue size behind and was cut off."""


class Subscriber:
    """One subscription: an async iterator over the events its filter wants."""

    def __init__(self, bus: EventBus, wanted: EventFilter, queue_size: int) -> None:
        self._bus = bus
        self.filter = wanted
        self.queue_size = queue_size
        self._queue: asyncio.Queue[InvoiceEvent | None] = asyncio.Queue(queue_size)
        self.overflowed = False
        self.closed = False

    def offer(self, event: InvoiceEvent) -> None:
        """Queue an event without waiting; cut the subscriber off when its queue is full."""
        if self.closed or self.overflowed or not self.filter.wants(event):
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(None)  # wakes a reader waiting on an empty queue

    def __aiter__(self) -> AsyncIterator[InvoiceEvent]:
        return self

    async def __anext__(self) -> InvoiceEvent:
        if self.closed:
            raise StopAsyncIteration
        event = await self._queue.get()
        if event is None:
            if self.overflowed:
                raise SubscriberOverflow(
                    f"this subscriber fell more than {self.queue_size} events behind and "
                    "missed events; subscribe again and refetch what it shows"
                )
            raise StopAsyncIteration
        return event

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._bus.unsubscribe(self)
            if not self._queue.full():
                self._queue.put_nowait(None)

    async def __aenter__(self) -> Subscriber:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class EventBus(abc.ABC):
    """Where events are published and subscribed to (one per process)."""

    def __init__(self, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self._subscribers: set[Subscriber] = set()

    @abc.abstractmethod
    async def publish(self, event: InvoiceEvent) -> None:
        """Make `event` reach every matching subscriber (on every replica, for a shared bus)."""

    def deliver(self, event: InvoiceEvent) -> None:
        """Hand an event to this process's subscribers; never waits on any of them."""
        for subscriber in list(self._subscribers):
            subscriber.offer(event)

    def subscribe(
        self,
        sources: Iterable[str] | None = None,
        types: Iterable[InvoiceEventType] | None = None,
    ) -> Subscriber:
        wanted = EventFilter(
            frozenset(sources) if sources is not None else None,
            frozenset(types) if types is not None else None,
        )
        subscriber = Subscriber(self, wanted, self.queue_size)
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    async def close(self) -> None:
        """End every subscription (the process is shutting down)."""
        for subscriber in list(self._subscribers):
            subscriber.close()


class LocalEventBus(EventBus):
    """Fan-out within this process; once `share`d, to every other replica as well."""

    _send: Callable[[InvoiceEvent], Awaitable[object]] | None = None

    def share(self, send: Callable[[InvoiceEvent], Awaitable[object]]) -> None:
        """Also hand every published event to `send` (a fan-out to the other replicas, whose
        own buses `deliver` it to their subscribers)."""
        self._send = send

    async def publish(self, event: InvoiceEvent) -> None:
        self.deliver(event)
        if self._send is not None:
            await self._send(event)
