"""Webhook receivers through the ASGI app: what is accepted, what is refused, and that a
refused delivery publishes nothing and changes nothing (not even the read cache)."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.domain.events import EventOrigin, InvoiceEventType
from gateway.support import signing
from tests.conftest import invoicematic_delivery, makershub_delivery, request_counts, zero_counts

SECRET = "whsec-test"
QUERY = '{ invoices(first: 1, filter: {sources: ["billing"]}) { nodes { number } } }'


async def nothing_published(subscriber) -> bool:
    try:
        await asyncio.wait_for(anext(subscriber), 0.1)
    except TimeoutError:
        return True
    return False


def billing_calls(simulators) -> int:
    return sum(request_counts(simulators)["invoicematic"].values())


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"signature": "0" * 64}, 401, "invalid X-Webhook-Signature"),
        ({"signature": "not-hex"}, 401, "invalid X-Webhook-Signature"),
        ({"timestamp": time.time() - 301}, 401, "stale delivery"),
        ({"timestamp": time.time() + 3600}, 401, "stale delivery"),
    ],
)
async def test_refused_invoicematic_deliveries_change_nothing(
    make_gateway, simulators, change, status, message
):
    gateway = await make_gateway(cache_ttl=60, webhook_secret=SECRET)
    subscriber = gateway.app.state.events.bus.subscribe()
    await gateway.data(QUERY)
    zero_counts(simulators)
    body, headers = invoicematic_delivery(SECRET, "invoice.paid", {"id": 1}, **change)
    response = await gateway.http.post("/webhooks/billing", content=body, headers=headers)
    assert response.status_code == status
    assert message in response.json()["error"]
    assert SECRET not in response.text
    assert await nothing_published(subscriber)
    await gateway.data(QUERY)
    assert billing_calls(simulators) == 0, "the cache was not dropped"
    # the same delivery id, properly signed and fresh, is still accepted: the refused
    # delivery did not burn it
    fresh_body, fresh = invoicematic_delivery(SECRET, "invoice.paid", {"id": 1},
                                              delivery_id=headers["X-Webhook-Delivery-Id"])
    accepted = await gateway.http.post("/webhooks/billing", content=fresh_body, headers=fresh)
    assert accepted.status_code == 202


async def test_missing_headers_and_unreadable_bodies_are_named(make_gateway):
    gateway = await make_gateway(webhook_secret=SECRET)
    subscriber = gateway.app.state.events.bus.subscribe()
    body, headers = invoicematic_delivery(SECRET, "invoice.paid", {"id": 1})
    cases = [
        ({k: v for k, v in headers.items() if k != "X-Webhook-Signature"}, body, 401,
         "missing X-Webhook-Signature"),
        ({k: v for k, v in headers.items() if k != "X-Webhook-Timestamp"}, body, 401,
         "X-Webhook-Timestamp"),
        ({k: v for k, v in headers.items() if k != "X-Webhook-Delivery-Id"}, body, 400,
         "X-Webhook-Delivery-Id"),
    ]
    for bad_body, note in ((b"{not json", "not JSON"), (b'{"event": "invoice.paid"}', "'data'"),
                           (b'{"event": "invoice.paid", "data": {"id": "x"}}', "data.id")):
        signed = invoicematic_delivery(SECRET, "x", {})[1]
        signed["X-Webhook-Signature"] = signing.sign(SECRET, bad_body)
        cases.append((signed, bad_body, 400, note))
    for case_headers, case_body, status, message in cases:
        response = await gateway.http.post("/webhooks/billing", content=case_body,
                                           headers=case_headers)
        assert response.status_code == status, (message, response.text)
        assert message in response.json()["error"]
    assert await nothing_published(subscriber)


async def test_a_replayed_delivery_id_is_a_duplicate_with_no_effect(make_gateway, simulators):
    gateway = await make_gateway(cache_ttl=60, webhook_secret=SECRET)
    subscriber = gateway.app.state.events.bus.subscribe()
    body, headers = invoicematic_delivery(SECRET, "invoice.paid", {"id": 2})
    first = await gateway.http.post("/webhooks/billing", content=body, headers=headers)
    assert first.status_code == 202 and first.json()["published"] == 1
    event = await anext(subscriber)
    assert (event.type, event.source, event.remote_id, event.origin) == (
        InvoiceEventType.PAID, "billing", "2", EventOrigin.WEBHOOK)
    await gateway.data(QUERY)
    zero_counts(simulators)
    again = await gateway.http.post("/webhooks/billing", content=body, headers=headers)
    assert again.status_code == 200 and again.json() == {"duplicate": True}
    assert await nothing_published(subscriber)
    await gateway.data(QUERY)
    assert billing_calls(simulators) == 0, "a replay does not even drop the cache"


async def test_invoicematic_events_map_to_invoice_event_types(make_gateway):
    gateway = await make_gateway(webhook_secret=SECRET)
    subscriber = gateway.app.state.events.bus.subscribe()
    cases = [
        ("invoice.created", {"id": 5}, (InvoiceEventType.CREATED, "5")),
        ("invoice.sent", {"id": 5}, (InvoiceEventType.STATUS_CHANGED, "5")),
        ("payment.received", {"id": 9, "invoice_id": 7}, (InvoiceEventType.UPDATED, "7")),
        ("invoice.deleted", {"id": 5}, (InvoiceEventType.DELETED, "5")),
    ]
    for name, data, expected in cases:
        body, headers = invoicematic_delivery(SECRET, name, data)
        assert (await gateway.http.post("/webhooks/billing", content=body,
                                        headers=headers)).status_code == 202
        event = await anext(subscriber)
        assert (event.type, event.remote_id) == expected and event.upstream == name
    body, headers = invoicematic_delivery(SECRET, "customer.created", {"id": 3})
    response = await gateway.http.post("/webhooks/billing", content=body, headers=headers)
    assert response.status_code == 202 and response.json()["events"] == 0
    assert await nothing_published(subscriber)


async def test_makershub_events_keep_the_index(make_gateway):
    gateway = await make_gateway(webhook_secret=SECRET)
    store = gateway.app.state.store
    subscriber = gateway.app.state.events.bus.subscribe(sources=["ap"])

    async def deliver(operation, invoice_id, context=None):
        body, headers = makershub_delivery(SECRET, operation, invoice_id, context)
        response = await gateway.http.post("/webhooks/ap", content=body, headers=headers)
        assert response.status_code == 202, response.text

    await deliver("Created", 48213)
    await deliver("Processed", 48215)
    await deliver("Approved", 48219)
    assert await store.index_page("ap", 0, 10) == [48213, 48215, 48219]
    await deliver("Merged", 48215, {"mergeFromId": 48215, "mergeToId": 48221})
    await deliver("Deleted", 48213)
    assert await store.index_page("ap", 0, 10) == [48219, 48221]
    got = [await anext(subscriber) for _ in range(6)]
    assert [(e.type.value, e.remote_id) for e in got] == [
        ("CREATED", "48213"), ("UPDATED", "48215"), ("APPROVED", "48219"),
        ("DELETED", "48215"), ("UPDATED", "48221"), ("DELETED", "48213")]
    forged_body, forged = makershub_delivery("wrong-secret", "Created", 48300)
    response = await gateway.http.post("/webhooks/ap", content=forged_body, headers=forged)
    assert response.status_code == 401 and "invalid X-Signature" in response.json()["error"]
    body, headers = makershub_delivery(SECRET, "Exploded", 48300)
    response = await gateway.http.post("/webhooks/ap", content=body, headers=headers)
    assert response.status_code == 400 and "operation" in response.json()["error"]
    assert await store.index_page("ap", 0, 10) == [48219, 48221], "nothing from refused ones"
    assert await nothing_published(subscriber)


async def test_sources_without_webhooks_or_secret(make_gateway):
    gateway = await make_gateway(webhook_secret=None)
    body, headers = invoicematic_delivery(SECRET, "invoice.paid", {"id": 1})
    unknown = await gateway.http.post("/webhooks/nope", content=body, headers=headers)
    assert unknown.status_code == 404 and "unknown source" in unknown.json()["error"]
    none = await gateway.http.post("/webhooks/erp", content=body, headers=headers)
    assert none.status_code == 404 and "sends no webhooks" in none.json()["error"]
    unset = await gateway.http.post("/webhooks/billing", content=body, headers=headers)
    assert unset.status_code == 409 and "no webhook_secret" in unset.json()["error"]


async def test_an_oversized_delivery_is_refused(make_gateway):
    gateway = await make_gateway(webhook_secret=SECRET)
    body = b'{"event": "invoice.paid", "data": {"id": 1}, "pad": "' + b"x" * 1_000_001 + b'"}'
    response = await gateway.http.post("/webhooks/billing", content=body,
                                       headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and "larger than" in response.json()["error"]
