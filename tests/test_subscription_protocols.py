"""Both WebSocket subprotocols at their edges, over a real socket: a connection that never
sends `connection_init` is closed (4408) under either, and every error a socket sends
carries `extensions.code`."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from gateway.app import create_app
from gateway.config import LimitsConfig, parse_config
from gateway.errors import ConfigError
from tests.tools import serve_live

KEY = "key-finance-web-123"
TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
INIT_TIMEOUT = 0.5


@pytest.fixture
async def ws_url(simulators) -> AsyncIterator[str]:
    blocks = [{**block, "cache_ttl": 0} for block in simulators.source_blocks()]
    clients = [{"name": "finance-web", "key": KEY, "sources": ["billing"]}]
    config = {"sources": blocks, "clients": clients,
              "limits": {"connection_init_timeout": INIT_TIMEOUT}}
    app = create_app(parse_config(config, {}))
    async with serve_live(app) as url:
        yield url.replace("http", "ws") + "/graphql"


async def answer(ws: Any, timeout: float = 5) -> dict[str, Any]:
    """The next message (a text frame), or how the socket was closed."""
    try:
        frame = await asyncio.wait_for(ws.recv(), timeout)
    except ConnectionClosed as closed:
        assert closed.rcvd is not None, "closed without a close frame"
        return {"closed": closed.rcvd.code, "reason": closed.rcvd.reason}
    assert isinstance(frame, str), f"binary frame {frame!r}"
    message: dict[str, Any] = json.loads(frame)
    return message


async def connected(ws: Any, payload: dict[str, Any] | None = None) -> None:
    await ws.send(json.dumps({"type": "connection_init",
                              "payload": payload or {"Authorization": f"Bearer {KEY}"}}))
    assert (await answer(ws))["type"] == "connection_ack"


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_a_socket_without_connection_init_is_closed_in_time(ws_url, protocol):
    started = time.monotonic()
    async with websockets.connect(ws_url, subprotocols=[protocol]) as ws:
        closed = await answer(ws, timeout=5)
    assert closed == {"closed": 4408, "reason": "Connection initialisation timeout"}
    assert INIT_TIMEOUT <= time.monotonic() - started < 3


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_a_socket_that_sent_connection_init_stays_open(ws_url, protocol):
    async with websockets.connect(ws_url, subprotocols=[protocol]) as ws:
        await connected(ws)
        await asyncio.sleep(INIT_TIMEOUT * 2)
        await ws.ping()  # still open: the timer stopped at connection_init
        assert ws.close_code is None


def test_connection_init_timeout_is_configured_and_checked():
    assert LimitsConfig().connection_init_timeout == 10
    block = {"name": "b", "kind": "makini", "base_url": "http://127.0.0.1:1", "token": "t"}
    for bad in (0, -1, "soon"):
        with pytest.raises(ConfigError, match=r"limits\.connection_init_timeout"):
            parse_config({"sources": [block], "limits": {"connection_init_timeout": bad}}, {})


async def legacy_start(ws: Any, query: str) -> dict[str, Any]:
    await ws.send(json.dumps({"id": "1", "type": "start", "payload": {"query": query}}))
    return await answer(ws)


async def test_legacy_protocol_errors_carry_codes(ws_url):
    async with websockets.connect(ws_url, subprotocols=[LEGACY_WS]) as ws:
        await connected(ws)
        parse = await legacy_start(ws, "subscription { invoiceEvents { id ")
        assert parse["type"] == "error"
        assert parse["payload"]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
        assert "Syntax Error" in parse["payload"]["message"]
        query = await legacy_start(ws, "{ __typename }")
        assert query["type"] == "error"
        assert query["payload"] == {"message": "queries are not allowed",
                                    "extensions": {"code": "BAD_REQUEST"}}
        invalid = await legacy_start(ws, "subscription { invoiceEvents { nope } }")
        assert invalid["payload"]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        forbidden = await legacy_start(ws, 'subscription { invoiceEvents(sources: ["cloud"]) '
                                       "{ id } }")
        assert forbidden["type"] == "data"
        assert forbidden["payload"]["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize("payload", [{"Authorization": "Bearer wrong-key"}, "not an object"])
async def test_legacy_connection_error_carries_a_code(ws_url, payload):
    async with websockets.connect(ws_url, subprotocols=[LEGACY_WS]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        refused = await answer(ws)
    assert refused["type"] == "connection_error"
    expected = "UNAUTHENTICATED" if isinstance(payload, dict) else "BAD_REQUEST"
    assert refused["payload"]["extensions"]["code"] == expected
    assert refused["payload"]["message"]
    assert "wrong-key" not in json.dumps(refused)


async def test_a_document_that_does_not_parse_is_refused_by_name(ws_url):
    """graphql-transport-ws closes with 4400 and the parser's message (the protocol's answer
    to a subscribe it cannot read), instead of completing the operation in silence."""
    async with websockets.connect(ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        await connected(ws)
        await ws.send(json.dumps({"id": "1", "type": "subscribe",
                                  "payload": {"query": "subscription { invoiceEvents { id "}}))
        closed = await answer(ws)
    assert closed["closed"] == 4400
    assert closed["reason"].startswith("Syntax Error")


async def test_transport_ws_errors_carry_codes(ws_url):
    """Errors from the schema had codes already; the handler's own did not."""
    async with websockets.connect(ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        await connected(ws)
        limit = 100  # strawberry's max_subscriptions_per_connection
        for number in range(limit):
            await ws.send(json.dumps({"id": f"live-{number}", "type": "subscribe", "payload": {
                "query": 'subscription { invoiceEvents(sources: ["billing"]) { id } }'}}))
        await ws.send(json.dumps({"id": "one-too-many", "type": "subscribe",
                                  "payload": {"query": "subscription { invoiceEvents { id } }"}}))
        refused = await answer(ws)
        assert refused == {"id": "one-too-many", "type": "error", "payload": [
            {"message": "Subscription limit reached",
             "extensions": {"code": "OPERATION_LIMIT"}}]}
        await ws.send(json.dumps({"id": "live-0", "type": "complete"}))
        await ws.send(json.dumps({"id": "bad", "type": "subscribe",
                                  "payload": {"query": "subscription { invoiceEvents { x } }"}}))
        invalid = await answer(ws)
        assert invalid["type"] == "error"
        assert invalid["payload"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
