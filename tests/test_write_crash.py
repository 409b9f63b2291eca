"""A gateway process killed mid-write and restarted (issue 18, item 2).

The create reached Cloud Billing (a proxy forwards it and holds the reply), then the
gateway is SIGKILLed. The restarted gateway, on the same state file, sees the dead
process's claim (its owner no longer runs), finds the record by the number the create
carried, and answers it: one upstream record, no CONFLICT for minutes.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import wait_ready, zero_counts
from tests.delaying_proxy import delaying_proxy
from tests.test_cli import free_port
from tests.writing import upstream_writes

pytestmark = pytest.mark.usefixtures("fresh_simulators")

CREATE = """mutation($input: CreateInvoiceInput!) {
  createInvoice(input: $input) { invoice { id number } userErrors { code message } } }"""


def start_gateway(config: Path, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gateway.cli.main", "serve", "--config", str(config),
         "--port", str(port), "--log-level", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
    )


async def test_a_gateway_killed_mid_write_answers_the_one_record_after_restart(
    simulators, tmp_path
):
    running = simulators.running["cloudbilling"]
    async with delaying_proxy(running.base_url) as proxy:
        blocks = []
        for block in simulators.source_blocks():
            if block["kind"] == "cloudbilling":
                block = {**block, "base_url": proxy.url, "timeout": 20}
            blocks.append(block)
        config = tmp_path / "gateway.yaml"
        config.write_text(yaml.safe_dump(
            {"sources": blocks, "state": f"sqlite:///{tmp_path / 'state.sqlite3'}"}))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        procs: list[subprocess.Popen[str]] = []
        try:
            procs.append(start_gateway(config, port))
            await asyncio.to_thread(wait_ready, base)
            async with httpx.AsyncClient(base_url=base, timeout=30) as http:
                customers = await http.post("/graphql", json={"query": (
                    '{ customers(first: 1, sources: ["cloud"]) { nodes { id } } }')})
                customer = customers.json()["data"]["customers"]["nodes"][0]["id"]
                variables: dict[str, Any] = {"input": {
                    "source": "cloud", "customerId": customer, "idempotencyKey": "killed",
                    "lineItems": [{"description": "Widget", "quantity": "1",
                                   "unitPrice": "5.00"}]}}
                zero_counts(simulators)
                proxy.hold_next(b"POST ", 60)
                pending = asyncio.ensure_future(
                    http.post("/graphql", json={"query": CREATE, "variables": variables}))
                for _ in range(200):
                    if proxy.held:
                        break
                    await asyncio.sleep(0.05)
                assert proxy.held == 1
                await asyncio.sleep(1)  # the upstream has committed; the reply is held
                procs[0].send_signal(signal.SIGKILL)
                await asyncio.to_thread(procs[0].wait, 10)
                with pytest.raises(httpx.TransportError):
                    await pending
            assert upstream_writes(simulators, "cloudbilling") == {"POST /invoices": 1}

            procs.append(start_gateway(config, port))
            await asyncio.to_thread(wait_ready, base)
            async with httpx.AsyncClient(base_url=base, timeout=30) as http:
                answers = []
                for _ in range(2):
                    reply = await http.post("/graphql", json={"query": CREATE,
                                                             "variables": variables})
                    body = reply.json()
                    assert "errors" not in body, body
                    assert body["data"]["createInvoice"]["userErrors"] == []
                    answers.append(body["data"]["createInvoice"]["invoice"])
            assert answers[0] == answers[1] and answers[0]["number"].startswith("gw-")
            assert upstream_writes(simulators, "cloudbilling") == {"POST /invoices": 1}
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()
                    proc.wait(timeout=10)
