"""The event bus: filters, bounded per-subscriber queues, and what an overflow does."""

from __future__ import annotations

import asyncio

import pytest

from gateway.domain.events import EventOrigin, InvoiceEvent, InvoiceEventType
from gateway.errors import SubscriberOverflow
from gateway.events.bus import LocalEventBus


def event(n: int, source: str = "billing", kind: InvoiceEventType = InvoiceEventType.UPDATED):
    return InvoiceEvent(kind, source, str(n), EventOrigin.WEBHOOK, "invoice.updated")


async def test_subscribers_get_what_their_filter_wants():
    bus = LocalEventBus()
    everything = bus.subscribe()
    paid_ap = bus.subscribe(sources=["ap"], types=[InvoiceEventType.PAID])
    await bus.publish(event(1))
    await bus.publish(event(2, "ap", InvoiceEventType.PAID))
    await bus.publish(event(3, "ap", InvoiceEventType.UPDATED))
    got = [await anext(everything) for _ in range(3)]
    assert [e.remote_id for e in got] == ["1", "2", "3"]
    assert (await anext(paid_ap)).remote_id == "2"
    await bus.close()
    with pytest.raises(StopAsyncIteration):
        await anext(paid_ap)
    assert bus.subscriber_count == 0


async def test_a_slow_subscriber_is_cut_off_without_blocking_anyone():
    bus = LocalEventBus(queue_size=3)
    slow = bus.subscribe()
    fast = bus.subscribe()
    received: list[str] = []

    async def drain() -> None:
        async for item in fast:
            received.append(item.remote_id)

    reader = asyncio.create_task(drain())
    for n in range(10):
        await bus.publish(event(n))  # never waits, whoever is behind
        await asyncio.sleep(0)
    await asyncio.sleep(0.01)
    assert received == [str(n) for n in range(10)], "the fast subscriber missed nothing"
    with pytest.raises(SubscriberOverflow, match="more than 3 events behind"):
        await anext(slow)
    assert slow.overflowed
    slow.close()
    fast.close()
    await reader


def test_events_round_trip_as_json_for_a_shared_bus():
    original = InvoiceEvent(InvoiceEventType.DELETED, "ap", "48213", EventOrigin.WEBHOOK,
                            "Merged", context={"mergeFromId": 48213, "mergeToId": 48215})
    copy = InvoiceEvent.from_json(original.to_json())
    assert copy == original and copy.id == original.id and copy.context == original.context


async def test_an_overflowing_subscription_ends_with_a_clear_error():
    from gateway.events.hub import EventHub
    from resolvers.context import Context
    from resolvers.schema import schema

    bus = LocalEventBus(queue_size=2)
    context = Context({}, events=EventHub({}, bus))
    stream = await schema.subscribe("subscription { invoiceEvents { id type } }",
                                    context_value=context)
    first = asyncio.create_task(anext(stream))
    while bus.subscriber_count == 0:
        await asyncio.sleep(0.001)
    for n in range(5):  # faster than the subscriber reads
        await bus.publish(event(n))
    result = await asyncio.wait_for(first, 5)
    assert result.data is None
    (error,) = result.errors
    assert error.extensions == {"code": "SUBSCRIBER_OVERFLOW"}
    assert "fell more than 2 events behind" in error.message
    await stream.aclose()
    assert bus.subscriber_count == 0


async def test_webhook_echoes_of_gateway_writes_are_absorbed_within_the_window(make_gateway):
    from gateway.events.hub import EventHub

    gateway = await make_gateway()
    now = [1000.0]
    bus = LocalEventBus()
    hub = EventHub(gateway.app.state.adapters, bus, echo_seconds=30, clock=lambda: now[0])
    subscriber = bus.subscribe()
    await hub.publish_write("billing", "4", InvoiceEventType.UPDATED, "updateInvoice")
    assert (await anext(subscriber)).origin is EventOrigin.GATEWAY

    def hook(n: int, kind: InvoiceEventType) -> InvoiceEvent:
        return InvoiceEvent(kind, "billing", str(n), EventOrigin.WEBHOOK, "invoice.x")

    now[0] += 5
    assert await hub.accept("billing", [hook(4, InvoiceEventType.UPDATED)]) == 0
    assert await hub.accept("billing", [hook(4, InvoiceEventType.PAID)]) == 0, (
        "a plain change is the same news")
    assert await hub.accept("billing", [hook(4, InvoiceEventType.DELETED)]) == 1, (
        "a delete is not an echo of an update")
    assert await hub.accept("billing", [hook(5, InvoiceEventType.UPDATED)]) == 1, (
        "another invoice is not an echo")
    now[0] += 30
    assert await hub.accept("billing", [hook(4, InvoiceEventType.UPDATED)]) == 1, (
        "after the window it is news again")
    got = [(e.type, e.remote_id) for e in [await anext(subscriber) for _ in range(3)]]
    assert got == [(InvoiceEventType.DELETED, "4"), (InvoiceEventType.UPDATED, "5"),
                   (InvoiceEventType.UPDATED, "4")]


async def test_a_scoped_client_gets_only_its_sources_events():
    from gateway.domain.identity import Identity
    from gateway.events.hub import EventHub
    from resolvers.context import Context
    from resolvers.schema import schema

    bus = LocalEventBus()
    configured = {"billing": object(), "cloud": object()}  # only their names matter here
    scoped = Identity("finance-web", frozenset({"billing"}), frozenset())
    context = Context(configured, identity=scoped, events=EventHub({}, bus))  # type: ignore[arg-type]
    stream = await schema.subscribe("subscription { invoiceEvents { source remoteId } }",
                                    context_value=context)
    first = asyncio.create_task(anext(stream))
    while bus.subscriber_count == 0:
        await asyncio.sleep(0.001)
    await bus.publish(event(1, "cloud"))
    await bus.publish(event(2, "billing"))
    result = await asyncio.wait_for(first, 5)
    assert result.data == {"invoiceEvents": {"source": "billing", "remoteId": "2"}}
    await stream.aclose()

    named = await schema.subscribe('subscription { invoiceEvents(sources: ["cloud"]) { id } }',
                                   context_value=context)
    refused = await named.__anext__() if hasattr(named, "__anext__") else named
    (error,) = refused.errors
    assert error.extensions == {"code": "FORBIDDEN"}
    assert "may not read source 'cloud'" in error.message
