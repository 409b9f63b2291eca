"""Who may subscribe: a WebSocket names its credential in the handshake's `Authorization`
header or, as browsers must, in `connection_init`'s payload; a missing or wrong one closes
the connection before anything runs, and a scoped client subscribes only to its sources."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from gateway.app import create_app
from gateway.config import parse_config
from tests.tools import serve_live

KEY = "key-finance-web-123"


@pytest.fixture
async def ws_url(simulators) -> AsyncIterator[str]:
    blocks = [{**block, "cache_ttl": 0} for block in simulators.source_blocks()]
    clients = [{"name": "finance-web", "key": KEY, "sources": ["billing"]}]
    app = create_app(parse_config({"sources": blocks, "clients": clients}, {}))
    async with serve_live(app) as url:
        yield url.replace("http", "ws") + "/graphql"


async def first_answer(ws: Any, sources: str) -> dict[str, Any]:
    query = f'subscription {{ invoiceEvents(sources: ["{sources}"]) {{ id }} }}'
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
    try:
        return json.loads(await asyncio.wait_for(ws.recv(), 1.5))
    except TimeoutError:
        return {"type": "waiting"}  # subscribed: the stream waits for events


async def test_a_credential_in_connection_init_scopes_the_subscription(ws_url):
    async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init",
                                  "payload": {"Authorization": f"Bearer {KEY}"}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        refused = await first_answer(ws, "cloud")
        errors = refused["payload"] if refused["type"] == "error" else refused["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "FORBIDDEN"
        assert "may not read source 'cloud'" in errors[0]["message"]
    async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init",
                                  "payload": {"authorization": f"Bearer {KEY}"}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        assert await first_answer(ws, "billing") == {"type": "waiting"}


async def test_the_handshake_header_still_works(ws_url):
    async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"],
                                  additional_headers={"Authorization": f"Bearer {KEY}"}) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        assert await first_answer(ws, "billing") == {"type": "waiting"}


@pytest.mark.parametrize("payload", [None, {"Authorization": "Bearer wrong-key"},
                                     {"Authorization": KEY}])
async def test_a_missing_or_wrong_credential_closes_the_connection(ws_url, payload):
    async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:
        init: dict[str, Any] = {"type": "connection_init"}
        if payload is not None:
            init["payload"] = payload
        await ws.send(json.dumps(init))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
