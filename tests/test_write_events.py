"""Writes through the gateway publish events with origin GATEWAY, one per successful write,
none for a refused one."""

from __future__ import annotations

import asyncio

import pytest

from gateway.domain.events import EventOrigin, InvoiceEventType
from tests.test_writes_invoicematic import create
from tests.writing import refused, written

pytestmark = pytest.mark.usefixtures("fresh_simulators")


async def drain(subscriber) -> list[tuple[InvoiceEventType, str]]:
    got = []
    while True:
        try:
            event = await asyncio.wait_for(anext(subscriber), 0.1)
        except TimeoutError:
            return got
        assert event.origin is EventOrigin.GATEWAY and event.source == "billing"
        got.append((event.type, event.remote_id))


async def test_each_successful_invoice_write_publishes_one_event(gateway):
    subscriber = gateway.app.state.events.bus.subscribe()
    invoice = await create(gateway)
    remote_id = invoice["remoteId"]
    assert await drain(subscriber) == [(InvoiceEventType.CREATED, remote_id)]
    await written(gateway, "recordPayment", {
        "invoiceId": invoice["id"], "amount": "100.00", "date": "2026-11-05", "number": "PAY-E-1"})
    assert await drain(subscriber) == [(InvoiceEventType.UPDATED, remote_id)], "partly paid"
    await refused(gateway, "recordPayment", {
        "invoiceId": invoice["id"], "amount": "9999.00", "date": "2026-11-05", "number": "PAY-E-2"})
    assert await drain(subscriber) == [], "a refused write publishes nothing"
    await written(gateway, "recordPayment", {
        "invoiceId": invoice["id"], "amount": "317.00", "date": "2026-11-06", "number": "PAY-E-3"})
    assert await drain(subscriber) == [(InvoiceEventType.PAID, remote_id)], "settled"
    await written(gateway, "createCustomer", {"source": "billing", "name": "Quiet Ltd"})
    assert await drain(subscriber) == [], "customer writes carry no invoice event"
    second = await create(gateway, number="INV-E-2")
    await drain(subscriber)
    await written(gateway, "deleteInvoice", {"id": second["id"]})
    assert await drain(subscriber) == [(InvoiceEventType.DELETED, second["remoteId"])]
