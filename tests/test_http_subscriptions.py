"""`invoiceEvents` over HTTP, on a real port: Apollo's multipart subscriptions
(`Accept: multipart/mixed;subscriptionSpec=1.0`) and graphql-sse's distinct connections
(`Accept: text/event-stream`); a subscription without a streaming Accept is a coded 406,
never an internal error; access control is the WebSocket's; and neither a stream nor a
WebSocket is cut by the deadline that plain requests have (`request_timeout`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import websockets

from gateway.app import create_app
from gateway.config import parse_config
from tests.conftest import invoicematic_delivery
from tests.tools import serve_live

KEY = "key-finance-web-123"
MULTIPART = "multipart/mixed;boundary=graphql;subscriptionSpec=1.0,application/json"
EVENTS = "subscription($s: [String!]) { invoiceEvents(sources: $s) { type remoteId origin " \
    "invoice { number } } }"


@asynccontextmanager
async def gateway(simulators: Any, **top: Any) -> AsyncIterator[tuple[Any, str]]:
    blocks = [{**block, "cache_ttl": 0} for block in simulators.source_blocks()]
    app = create_app(parse_config({"sources": blocks, **top}, {}))
    async with serve_live(app) as url:
        yield app, url


async def subscribed(app: Any, count: int = 1) -> None:
    for _ in range(500):
        if app.state.events.bus.subscriber_count >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the subscription never started")


async def paid_webhook(simulators: Any, url: str, remote_id: int) -> None:
    """Invoicematic's signed `invoice.paid` delivery, as the upstream sends it."""
    secret = simulators.running["invoicematic"].simulator.webhooks.secret
    body, headers = invoicematic_delivery(secret, "invoice.paid", {"id": remote_id})
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{url}/webhooks/billing", content=body, headers=headers)
    assert answer.status_code == 202, answer.text


async def multipart_parts(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """The JSON parts of a multipart/mixed subscription response, heartbeats (`{}`) left out."""
    buffer = ""
    async for text in response.aiter_text():
        buffer += text
        while "\r\n\r\n" in buffer:
            head, _, rest = buffer.partition("\r\n\r\n")
            end = rest.find("\r\n--graphql")
            if end < 0:
                break
            part, buffer = rest[:end], rest[end + len("\r\n--graphql"):]
            assert "content-type: application/json" in head.lower(), head
            message = json.loads(part)
            if message:
                yield message


async def test_a_multipart_subscription_streams_events(simulators):
    async with gateway(simulators) as (app, url), httpx.AsyncClient(timeout=30) as http:
        request = {"query": EVENTS, "variables": {"s": ["billing"]}}
        async with http.stream("POST", f"{url}/graphql", json=request,
                               headers={"accept": MULTIPART}) as response:
            assert response.status_code == 200
            kind = response.headers["content-type"]
            assert kind.startswith("multipart/mixed") and "subscriptionSpec=1.0" in kind
            parts = multipart_parts(response)
            await subscribed(app)
            await paid_webhook(simulators, url, 1)
            first = await asyncio.wait_for(anext(parts), 10)
    event = first["payload"]["data"]["invoiceEvents"]
    assert (event["type"], event["remoteId"], event["origin"]) == ("PAID", "1", "WEBHOOK")
    assert event["invoice"]["number"], "the invoice as it is now"
    assert "errors" not in first["payload"]


async def test_a_graphql_sse_subscription_streams_events(simulators):
    sse = {"accept": "text/event-stream"}
    async with gateway(simulators) as (app, url), httpx.AsyncClient(timeout=30) as http, \
            http.stream("POST", f"{url}/graphql", json={"query": EVENTS}, headers=sse) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.aiter_lines()
        await subscribed(app)
        await paid_webhook(simulators, url, 2)
        event_line = await asyncio.wait_for(anext(lines), 10)
        data_line = await asyncio.wait_for(anext(lines), 10)
    assert event_line == "event: next"
    event = json.loads(data_line.removeprefix("data: "))["data"]["invoiceEvents"]
    assert (event["type"], event["remoteId"]) == ("PAID", "2")


@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize("accept", [None, "application/json", "application/graphql-response+json"])
async def test_a_subscription_without_a_streaming_accept_is_406(simulators, method, accept):
    async with gateway(simulators) as (_, url), httpx.AsyncClient(timeout=30) as http:
        headers = {"accept": accept} if accept else {}
        query = "subscription { invoiceEvents { type } }"
        if method == "POST":
            answer = await http.post(f"{url}/graphql", json={"query": query}, headers=headers)
        else:
            answer = await http.get(f"{url}/graphql", params={"query": query}, headers=headers)
    assert answer.status_code == 406, answer.text
    assert answer.headers["x-request-id"]
    [error] = answer.json()["errors"]
    assert error["extensions"]["code"] == "INVALID_ACCEPT_HEADER"
    assert "multipart/mixed;subscriptionSpec=1.0" in error["message"]
    assert "text/event-stream" in error["message"] and "WebSocket" in error["message"]


async def test_http_subscriptions_are_authorised_as_websocket_ones(simulators):
    clients = [{"name": "finance-web", "key": KEY, "sources": ["billing"]}]
    async with gateway(simulators, clients=clients) as (_, url), \
            httpx.AsyncClient(timeout=30) as http:
        nobody = await http.post(f"{url}/graphql", json={"query": EVENTS},
                                 headers={"accept": MULTIPART})
        assert nobody.status_code == 401
        assert nobody.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        request = {"query": EVENTS, "variables": {"s": ["cloud"]}}
        auth = {"accept": MULTIPART, "authorization": f"Bearer {KEY}"}
        async with http.stream("POST", f"{url}/graphql", json=request,
                               headers=auth) as response:
            refused = await asyncio.wait_for(anext(multipart_parts(response)), 10)
    [error] = refused["payload"]["errors"]
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "may not read source 'cloud'" in error["message"]


async def test_streams_and_websockets_outlive_the_request_deadline(simulators):
    """With `request_timeout: 1`, an event two seconds after subscribing still fetches its
    invoice: a subscription's upstream calls are bounded by the source's timeout only."""
    multipart = {"accept": MULTIPART}
    async with gateway(simulators, request_timeout=1) as (app, url), \
            httpx.AsyncClient(timeout=30) as http, \
            http.stream("POST", f"{url}/graphql", json={"query": EVENTS},
                        headers=multipart) as response, \
            websockets.connect(url.replace("http", "ws") + "/graphql",
                               subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe",
                                  "payload": {"query": EVENTS}}))
        parts = multipart_parts(response)
        await subscribed(app, 2)
        await asyncio.sleep(2)
        await paid_webhook(simulators, url, 3)
        streamed = (await asyncio.wait_for(anext(parts), 10))["payload"]
        socket = json.loads(await asyncio.wait_for(ws.recv(), 10))["payload"]
    for payload in (streamed, socket):
        assert "errors" not in payload, payload
        assert payload["data"]["invoiceEvents"]["invoice"]["number"]
