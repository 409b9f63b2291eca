"""gql, the Python GraphQL client, subscribes to `invoiceEvents` the way its users do, over
each of its transports that can: the `websockets` and the aiohttp WebSocket transports
(graphql-transport-ws, and the legacy graphql-ws), and aiohttp's multipart HTTP
subscriptions. Each receives one event caused by a mutation through the gateway and one
caused by a simulator's webhook."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from gql import Client, gql
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.aiohttp_websockets import AIOHTTPWebsocketsTransport
from gql.transport.websockets import WebsocketsTransport

from tests.live import LiveGateway, live_gateway

SUBSCRIPTION = gql("""subscription {
  invoiceEvents(sources: ["billing"]) { type source remoteId origin invoice { number } }
}""")
TRANSPORT_WS = WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL  # "graphql-transport-ws"
LEGACY_WS = WebsocketsTransport.APOLLO_SUBPROTOCOL  # "graphql-ws"

TRANSPORTS: dict[str, Callable[[LiveGateway], Any]] = {
    "websockets graphql-transport-ws": lambda live: WebsocketsTransport(
        url=live.ws_url, subprotocols=[TRANSPORT_WS]),
    "websockets legacy graphql-ws": lambda live: WebsocketsTransport(
        url=live.ws_url, subprotocols=[LEGACY_WS]),
    "aiohttp websockets graphql-transport-ws": lambda live: AIOHTTPWebsocketsTransport(
        url=live.ws_url, subprotocols=[TRANSPORT_WS]),
    "aiohttp multipart HTTP": lambda live: AIOHTTPTransport(url=live.url + "/graphql"),
}


@pytest.mark.parametrize("transport", list(TRANSPORTS))
async def test_gql_receives_a_mutations_and_a_webhooks_event(transport):
    async with live_gateway() as live, Client(transport=TRANSPORTS[transport](live)) as session:
        events: list[dict[str, Any]] = []

        async def collect() -> None:
            async for result in session.subscribe(SUBSCRIPTION):
                events.append(result["invoiceEvents"])
                if len(events) == 2:
                    return

        task = asyncio.create_task(collect())
        try:
            await live.subscribers()
        except AssertionError:
            if task.done():
                task.result()  # the client's own error says more
            raise
        await live.mutate_number(4, "INV-GQL-4")
        await live.put_invoice(3, "INV-GQL-3")
        await asyncio.wait_for(task, 30)
    assert sorted(events, key=lambda event: event["origin"]) == [
        {"type": "UPDATED", "source": "billing", "remoteId": "4", "origin": "GATEWAY",
         "invoice": {"number": "INV-GQL-4"}},
        {"type": "UPDATED", "source": "billing", "remoteId": "3", "origin": "WEBHOOK",
         "invoice": {"number": "INV-GQL-3"}},
    ]
