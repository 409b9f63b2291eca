"""Issue 19 item 1: request bodies are read with a ceiling, streamed, never whole.

A chunked 200 MiB POST to a webhook receiver needs no credential (the signature is checked
after the body is read). Before the cap was streamed the gateway read it whole: RSS grew by
the body's size and was never given back."""

from __future__ import annotations

import pytest

from tests.security.hostile import push_chunked, rss_bytes
from tests.tools import GatewayProcess

MiB = 1 << 20


@pytest.fixture
def gateway_process(simulators, tmp_path):
    blocks = [{**block, "webhook_secret": "whsec-edge"} for block in simulators.source_blocks()]
    process = GatewayProcess({"sources": blocks}, tmp_path).start()
    yield process
    process.stop()


@pytest.mark.parametrize("path", ["/webhooks/billing", "/graphql"])
def test_a_chunked_200_mib_body_is_refused_without_reading_it(gateway_process, path):
    assert gateway_process.proc is not None
    pid, port = gateway_process.proc.pid, gateway_process.port
    push_chunked(port, path, 2 * MiB)  # warm up: the code paths loaded, buffers sized
    before = rss_bytes(pid)
    outcome = push_chunked(port, path, 200 * MiB)
    grown = rss_bytes(pid) - before
    assert outcome.sent < 16 * MiB, f"the gateway took {outcome.sent / MiB:.0f} MiB"
    if outcome.status is not None:  # answered before it hung up (a reset may eat it)
        assert outcome.status == 413, outcome.head
        assert b"connection: close" in outcome.head.lower()
    assert grown < 20 * MiB, f"RSS grew by {grown / MiB:.1f} MiB"


async def test_an_oversized_webhook_is_refused_with_a_code(make_gateway):
    gateway = await make_gateway(webhook_secret="whsec-edge", top={
        "limits": {"max_webhook_bytes": 1000}})
    response = await gateway.http.post("/webhooks/billing", content=b"{" + b" " * 1000 + b"}")
    assert response.status_code == 413
    assert response.json() == {
        "error": "body larger than max_webhook_bytes (1000 bytes)", "code": "PAYLOAD_TOO_LARGE"}
    assert response.headers["connection"] == "close"
