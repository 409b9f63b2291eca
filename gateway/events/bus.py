"""The bus that fans invoice events (`gateway.domain.events`) out to subscribers; nothing
here knows about HTTP, strawberry or any one upstream.

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
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

from gateway.domain.events import EventFilter, InvoiceEvent, InvoiceEventType
from gateway.errors import SubscriberOverflow

DEFAULT_QUEUE_SIZE = 256


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
