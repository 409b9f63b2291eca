"""Issue 19 item 9: request heads and connections are bounded by the server itself.

Before, a 50 MB `Authorization` header was buffered whole and handed to the app, and
WebSocket upgrades were never counted against any limit (uvicorn's `limit_concurrency`
was not set, and applies to HTTP requests only)."""

from __future__ import annotations

import base64
import json
import os
import socket

import pytest
import websockets

from tests.security.hostile import rss_bytes, send_raw
from tests.tools import GatewayProcess

MiB = 1 << 20


def gateway_process(simulators, tmp_path, **limits):
    config = {"sources": simulators.source_blocks(), "limits": limits,
              "clients": [{"name": "edge", "key": "edge-key"}]}
    return GatewayProcess(config, tmp_path).start()


@pytest.fixture
def gateway(simulators, tmp_path):
    process = gateway_process(simulators, tmp_path)
    yield process
    process.stop()


def get(path: str, port: int, headers: dict[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_all(port: int, request: bytes) -> bytes:
    """Send a small request; everything the server answers until it hangs up."""
    reply = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        while chunk := sock.recv(65536):
            reply += chunk
    return reply


def test_a_50_mb_authorization_header_is_refused_before_it_is_read(gateway):
    assert gateway.proc is not None
    pid, port = gateway.proc.pid, gateway.port
    before = rss_bytes(pid)
    outcome = send_raw(port, get("/graphql?query=%7B__typename%7D", port,
                                 {"Authorization": "Bearer " + "a" * (50 * MiB)}))
    grown = rss_bytes(pid) - before
    assert outcome.sent < 4 * MiB, f"the gateway took {outcome.sent / MiB:.1f} MiB of headers"
    if outcome.status is not None:  # answered before it hung up (a reset may eat it)
        assert outcome.status == 431, outcome.head
    assert grown < 20 * MiB, f"RSS grew by {grown / MiB:.1f} MiB"
    assert "Bearer aaaa" not in gateway.log()


def test_a_head_over_max_header_bytes_is_answered_431_with_a_code(gateway):
    port = gateway.port
    reply = read_all(port, get("/healthz", port, {"X-Padding": "p" * 70_000}))
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 "), head
    assert b"connection: close" in head.lower()
    error = json.loads(body)["errors"][0]
    assert error["extensions"] == {"code": "HEADERS_TOO_LARGE", "limit": "max_header_bytes"}
    # Under the limit, a large head is served as ever.
    fine = send_raw(port, get("/healthz", port, {"X-Padding": "p" * 60_000}))
    assert fine.status == 200, fine.head


def upgrade(port: int) -> tuple[socket.socket, bytes]:
    """A WebSocket handshake on /graphql (graphql-transport-ws); the socket stays open."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(get("/graphql", port, {
        "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": key,
        "Sec-WebSocket-Version": "13", "Sec-WebSocket-Protocol": "graphql-transport-ws",
    }))
    reply = b""
    while b"\r\n\r\n" not in reply:
        chunk = sock.recv(65536)
        if not chunk:
            break
        reply += chunk
    return sock, reply


def test_websockets_past_max_connections_are_refused(simulators, tmp_path):
    process = gateway_process(simulators, tmp_path, max_connections=3)
    opened: list[socket.socket] = []
    try:
        for _ in range(3):
            sock, reply = upgrade(process.port)
            opened.append(sock)
            assert reply.startswith(b"HTTP/1.1 101 "), reply
        sock, reply = upgrade(process.port)
        opened.append(sock)
        assert reply.startswith(b"HTTP/1.1 503 "), reply
        assert b"TOO_MANY_CONNECTIONS" in reply + sock.recv(65536)
        # An HTTP request meanwhile is refused the same way, with a code.
        busy = read_all(process.port, get("/healthz", process.port, {}))
        assert busy.startswith(b"HTTP/1.1 503 ") and b"TOO_MANY_CONNECTIONS" in busy, busy
        # A closed socket frees its place.
        opened.pop(0).close()
        opened.pop().close()
        for _ in range(50):
            sock, reply = upgrade(process.port)
            opened.append(sock)
            if reply.startswith(b"HTTP/1.1 101 "):
                break
        assert reply.startswith(b"HTTP/1.1 101 "), reply
    finally:
        for sock in opened:
            sock.close()
        process.stop()


async def test_a_websocket_message_over_max_body_bytes_closes_the_socket(simulators, tmp_path):
    process = gateway_process(simulators, tmp_path, max_body_bytes=10_000)
    try:
        url = process.url.replace("http", "ws") + "/graphql"
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"],
                                      max_size=None) as ws:
            init = {"type": "connection_init", "payload": {"Authorization": "Bearer edge-key"}}
            await ws.send(json.dumps(init))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            big = {"id": "1", "type": "subscribe",
                   "payload": {"query": "{ __typename }", "pad": "x" * 20_000}}
            await ws.send(json.dumps(big))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    finally:
        process.stop()
