"""The wire under `SourceClient`: aiohttp's client (the product's) and httpx (the
benchmarks' baseline, benchmarks/httpx_wire.py) send the same requests and fail the same
way, over real sockets on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from benchmarks.httpx_wire import HttpxWire
from gateway.errors import UpstreamTimeout, UpstreamUnavailable
from gateway.upstream.client import SourceClient

TOKEN = "wire-secret-token"


class Recorder:
    """A real HTTP server that records each request and answers JSON (or stalls)."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.stall = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.seen.append({"method": self.command, "path": self.path, "body": body,
                                   "headers": {k.lower(): v for k, v in self.headers.items()}})
                if outer.stall.is_set():
                    time.sleep(2)  # never answers within the client's timeout
                    return
                reply = json.dumps({"data": {"echo": self.path}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_GET = do_POST = do_DELETE = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.server.shutdown()


WIRES = ("aiohttp", "httpx")


def client_for(url: str, wire: str, **options: Any) -> SourceClient:
    """A client over aiohttp's client (the default) or httpx's."""
    return SourceClient("probe", url, {"Authorization": f"Bearer {TOKEN}"}, cache_ttl=0,
                        **({"wire": HttpxWire} if wire == "httpx" else {}), **options)


@pytest.mark.parametrize("wire", WIRES)
async def test_reads_and_writes_go_out_as_sent(recorder: Recorder, wire: str) -> None:
    client = client_for(recorder.url, wire)
    try:
        got = await client.get_json("/invoices", [("limit", 2), ("q", "a b&c")])
        assert got == {"data": {"echo": "/api/v1/invoices?limit=2&q=a+b%26c"}}
        await client.send_json("POST", "/invoices", {"total": 1500, "name": "Zoë"},
                               {"Idempotency-Key": "k-1"})
        await client.send_json("DELETE", "/invoices/7")
    finally:
        await client.aclose()
    read, write, delete = recorder.seen
    assert read["method"] == "GET" and read["body"] == b""
    assert read["headers"]["authorization"] == f"Bearer {TOKEN}"
    assert "content-type" not in read["headers"]
    assert write["path"] == "/api/v1/invoices"
    assert json.loads(write["body"]) == {"total": 1500, "name": "Zoë"}
    assert write["headers"]["content-type"] == "application/json"
    assert write["headers"]["idempotency-key"] == "k-1"
    assert delete["method"] == "DELETE" and delete["body"] == b""
    assert "content-type" not in delete["headers"]


@pytest.mark.parametrize("wire", WIRES)
async def test_a_refused_connection_is_unavailable_and_names_no_token(wire: str) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = client_for(f"http://127.0.0.1:{port}", wire)
    try:
        with pytest.raises(UpstreamUnavailable) as caught:
            await client.get_json("/invoices", {"token_param": "x"})
    finally:
        await client.aclose()
    message = str(caught.value)
    assert "GET /invoices: connection failed (" in message
    assert TOKEN not in message and "token_param" not in message


@pytest.mark.parametrize("wire", WIRES)
async def test_no_answer_in_time_is_a_timeout(recorder: Recorder, wire: str) -> None:
    recorder.stall.set()
    client = client_for(recorder.url, wire, timeout=0.3)
    try:
        with pytest.raises(UpstreamTimeout, match="GET /api/v1/slow: no answer within"):
            await client.get_json("/slow")
    finally:
        await client.aclose()


@pytest.mark.parametrize("wire", WIRES)
async def test_the_hook_runs_before_every_attempt(recorder: Recorder, wire: str) -> None:
    client = client_for(recorder.url, wire)
    seen_before: list[int] = []

    async def hook() -> None:
        seen_before.append(len(recorder.seen))

    client.before_each_request(hook)
    try:
        await client.get_json("/a")
        await client.send_json("POST", "/b", {})
    finally:
        await client.aclose()
    assert seen_before == [0, 1]  # each time before the upstream saw the request
