"""`invoiceEvents` over a real WebSocket (graphql-transport-ws) against the demo app on a
real port, its simulators sending signed webhooks to it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets

from gateway.domain.ids import encode_id
from tests.conftest import invoicematic_delivery, makershub_delivery
from tests.live import LiveGateway, live_gateway

EVENT_FIELDS = """id type source remoteId invoiceId origin occurredAt
                  invoice { id number status total { amount currency } }"""


@pytest.fixture
async def live() -> AsyncIterator[LiveGateway]:
    async with live_gateway() as gateway:
        yield gateway


async def text_frame(ws: Any, timeout: float = 10) -> dict[str, Any]:
    """The next message, which must be a text frame: graphql-ws (npm), gql and GraphiQL
    refuse binary frames, though `websockets` hands both over."""
    frame = await asyncio.wait_for(ws.recv(), timeout)
    assert isinstance(frame, str), f"binary WebSocket frame: {frame!r}"
    message: dict[str, Any] = json.loads(frame)
    return message


class Subscription:
    def __init__(self, ws: Any, live: LiveGateway) -> None:
        self.ws = ws
        self.live = live

    async def next(self, timeout: float = 10) -> dict[str, Any]:
        message = await text_frame(self.ws, timeout)
        assert message["type"] == "next", message
        return message["payload"]

    async def nothing(self, seconds: float = 0.4) -> bool:
        try:
            message = await asyncio.wait_for(self.ws.recv(), seconds)
        except TimeoutError:
            return True
        raise AssertionError(f"unexpected message {message}")


async def subscribe(live: LiveGateway, args: str = "") -> AsyncIterator[Subscription]:
    ws_url = live.url.replace("http", "ws") + "/graphql"
    async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        assert (await text_frame(ws))["type"] == "connection_ack"
        before = live.hub.bus.subscriber_count
        query = f"subscription {{ invoiceEvents{args} {{ {EVENT_FIELDS} }} }}"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
        for _ in range(200):  # the server registers the subscriber once it starts the stream
            if live.hub.bus.subscriber_count > before:
                break
            await asyncio.sleep(0.01)
        yield Subscription(ws, live)


async def put_invoice(live: LiveGateway, remote_id: int, number: str) -> None:
    await live.put_invoice(remote_id, number)


async def test_a_direct_simulator_write_reaches_a_subscriber_as_one_event(live):
    async for sub in subscribe(live):
        await put_invoice(live, 3, "INV-LIVE-3")
        payload = await sub.next()
        event = payload["data"]["invoiceEvents"]
        assert (event["type"], event["source"], event["remoteId"], event["origin"]) == (
            "UPDATED", "billing", "3", "WEBHOOK")
        assert event["invoice"]["number"] == "INV-LIVE-3", "current state, fetched fresh"
        assert event["invoice"]["id"] == event["invoiceId"]
        assert await sub.nothing(), "exactly one event for one write"
    for _ in range(200):  # a closed socket ends its subscription and frees its queue
        if live.hub.bus.subscriber_count == 0:
            break
        await asyncio.sleep(0.01)
    assert live.hub.bus.subscriber_count == 0


async def test_a_mutation_reaches_a_subscriber_once(live):
    """A mutation publishes one event with origin GATEWAY; the simulator's webhook for the
    same write arrives too and is absorbed as its echo."""
    running = live.simulator("invoicematic")
    mutation = """mutation($id: ID!) { updateInvoice(input: {id: $id, number: "INV-GW-4"}) {
                    invoice { number } userErrors { message } } }"""
    invoice_id = encode_id("Invoice", "billing", "4")
    async for sub in subscribe(live, '(sources: ["billing"])'):
        async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
            done = (await http.post("/graphql", json={"query": mutation,
                                                      "variables": {"id": invoice_id}})).json()
        assert done["data"]["updateInvoice"] == {"invoice": {"number": "INV-GW-4"},
                                                 "userErrors": []}, done
        event = (await sub.next())["data"]["invoiceEvents"]
        assert (event["type"], event["remoteId"], event["origin"]) == ("UPDATED", "4", "GATEWAY")
        assert event["invoiceId"] == invoice_id
        assert event["invoice"]["number"] == "INV-GW-4"
        for _ in range(100):  # wait for the simulator's webhook delivery to be answered
            if running.simulator.webhooks.deliveries:
                break
            await asyncio.sleep(0.02)
        delivered = running.simulator.webhooks.deliveries[-1]
        assert (delivered["headers"]["X-Webhook-Event"], delivered["status"]) == (
            "invoice.updated", 202)
        assert await sub.nothing(), "the webhook echo of the same write is not a second event"


async def test_refused_deliveries_publish_nothing_over_the_socket(live):
    secret = live.simulator("invoicematic").simulator.webhooks.secret
    async for sub in subscribe(live):
        async with httpx.AsyncClient(base_url=live.url) as http:
            forged_body, forged = invoicematic_delivery("guess", "invoice.paid", {"id": 1})
            assert (await http.post("/webhooks/billing", content=forged_body,
                                    headers=forged)).status_code == 401
            stale_body, stale = invoicematic_delivery(secret, "invoice.paid", {"id": 1},
                                                      timestamp=0)
            assert (await http.post("/webhooks/billing", content=stale_body,
                                    headers=stale)).status_code == 401
            body, headers = invoicematic_delivery(secret, "invoice.paid", {"id": 1})
            assert (await http.post("/webhooks/billing", content=body,
                                    headers=headers)).status_code == 202
            event = (await sub.next())["data"]["invoiceEvents"]
            assert (event["type"], event["remoteId"]) == ("PAID", "1")
            replay = await http.post("/webhooks/billing", content=body, headers=headers)
            assert replay.status_code == 200 and replay.json() == {"duplicate": True}
        assert await sub.nothing(), "the forged, stale and replayed deliveries published nothing"


async def test_filters_and_deleted_invoices(live):
    secret = live.simulator("makershub").simulator.webhooks.secret
    async for sub in subscribe(live, '(sources: ["ap"], types: [DELETED, APPROVED])'):
        async with httpx.AsyncClient(base_url=live.url) as http:
            for operation in ("Updated", "Approved", "Deleted"):
                body, headers = makershub_delivery(secret, operation, 48215)
                assert (await http.post("/webhooks/ap", content=body,
                                        headers=headers)).status_code == 202
            body, headers = invoicematic_delivery(
                live.simulator("invoicematic").simulator.webhooks.secret, "invoice.deleted",
                {"id": 2})
            assert (await http.post("/webhooks/billing", content=body,
                                    headers=headers)).status_code == 202
        approved = (await sub.next())["data"]["invoiceEvents"]
        assert (approved["type"], approved["remoteId"]) == ("APPROVED", "48215")
        assert approved["invoice"]["number"]
        deleted = (await sub.next())["data"]["invoiceEvents"]
        assert (deleted["type"], deleted["invoice"]) == ("DELETED", None)
        assert await sub.nothing(), "UPDATED and the billing event were filtered out"


async def test_unknown_source_in_the_filter_is_bad_input(live):
    ws_url = live.url.replace("http", "ws") + "/graphql"
    async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        await ws.recv()
        query = 'subscription { invoiceEvents(sources: ["nope"]) { id } }'
        await ws.send(json.dumps({"id": "9", "type": "subscribe", "payload": {"query": query}}))
        message = json.loads(await asyncio.wait_for(ws.recv(), 10))
        error = message["payload"]["errors"][0] if message["type"] == "next" else (
            message["payload"][0])
        assert "unknown source 'nope'" in error["message"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"


async def test_makershub_simulator_webhooks_and_the_sim_control(live):
    running = live.simulator("makershub")
    control = running.url + "/_sim/webhook"
    auth = {"Authorization": f"Bearer {running.simulator.token}"}
    async with httpx.AsyncClient(timeout=10) as http:
        shown = (await http.get(control)).json()
        assert shown["url"] == f"{live.url}/webhooks/ap" and shown["sends_webhooks"] is True
        bad = await http.put(control, json={"url": "ftp://x"})
        assert bad.status_code == 400 and "url" in bad.json()["error"]
        pending = next(i for i, r in sorted(running.simulator.invoices.items())
                       if r["approved"] is None and r["rejected"] is None)
        async for sub in subscribe(live, '(sources: ["ap"])'):
            api = f"{running.base_url}/v1/invoices/{pending}"
            record = (await http.get(api, headers=auth)).json()["result"][0]
            patched = await http.patch(api, headers=auth, json={
                "hash_id": record["hash_id"], "po_number": "PO-LIVE-1"})
            assert patched.status_code == 200, patched.text
            event = (await sub.next())["data"]["invoiceEvents"]
            assert (event["type"], event["remoteId"], event["origin"]) == (
                "UPDATED", str(pending), "WEBHOOK")
            assert await sub.nothing()
        delivered = (await http.get(control)).json()["deliveries"][-1]
        assert delivered["status"] == 202 and delivered["headers"]["X-Signature"]
        assert (await http.delete(control)).json()["url"] is None
        await http.patch(api, headers=auth, json={
            "hash_id": (await http.get(api, headers=auth)).json()["result"][0]["hash_id"],
            "po_number": "PO-LIVE-2"})
        await asyncio.sleep(0.2)
        assert (await http.get(control)).json()["deliveries"][-1] == delivered, (
            "no target, no delivery")


async def test_an_open_subscription_does_not_stop_gc_pacing():
    """The collector is paced to moments no HTTP request is being served; a WebSocket open
    for its subscription's whole life used to count as one request being served, so that
    with any subscription open no paced collection ever ran again (issue 18, item 6)."""
    from gateway.upstream.plugins.gcpace import GcPacer

    pacer = GcPacer()  # the demo's app with the plug-in `gc_pacing: true` adds (not enabled)

    async def settled() -> int:
        for _ in range(100):  # the webhook's own HTTP request may still be finishing
            if pacer.serving == 0:
                break
            await asyncio.sleep(0.01)
        return pacer.serving

    async with live_gateway(plugins=[pacer]) as live:
        assert await settled() == 0
        async for sub in subscribe(live):
            await put_invoice(live, 3, "INV-PACED-3")
            await sub.next()
            assert await settled() == 0
