"""graphql-ws, the npm client most JavaScript apps and tools subscribe with, in Node
(tests/node/subscribe.cjs): it receives one `invoiceEvents` event caused by a mutation
through the gateway and one caused by a simulator's webhook. Node and graphql-ws come from
scripts/test-tools (.cache/node); outside CI the test skips without them, saying why."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from typing import Any

from tests.live import live_gateway
from tests.tools import NODE_MODULES, NODE_SCRIPTS, require_tool

QUERY = """subscription {
  invoiceEvents(sources: ["billing"]) { type source remoteId origin invoice { number } }
}"""


async def test_graphql_ws_receives_a_mutations_and_a_webhooks_event():
    require_tool(shutil.which("node") is not None, "node is not installed")
    require_tool((NODE_MODULES / "graphql-ws").is_dir() and (NODE_MODULES / "ws").is_dir(),
                 "graphql-ws and ws (npm) are not in .cache/node")
    async with live_gateway() as live:
        process = await asyncio.create_subprocess_exec(
            "node", str(NODE_SCRIPTS / "subscribe.cjs"), live.ws_url, QUERY, "2",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "NODE_PATH": str(NODE_MODULES)},
        )
        try:
            for _ in range(1500):  # until the Node client's subscription runs
                if live.hub.bus.subscriber_count or process.returncode is not None:
                    break
                await asyncio.sleep(0.02)
            if not live.hub.bus.subscriber_count:
                out, err = await asyncio.wait_for(process.communicate(), 30)
                raise AssertionError(f"graphql-ws never subscribed: {out.decode()[-2000:]} "
                                     f"{err.decode()[-2000:]}")
            await live.mutate_number(4, "INV-NODE-4")
            await live.put_invoice(3, "INV-NODE-3")
            out, err = await asyncio.wait_for(process.communicate(), 30)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    lines = out.decode().strip().splitlines()
    assert lines, f"subscribe.cjs printed nothing; stderr: {err.decode()[-2000:]}"
    result: dict[str, Any] = json.loads(lines[-1])
    assert process.returncode == 0 and "error" not in result, result
    events = [payload["data"]["invoiceEvents"] for payload in result["events"]]
    assert sorted(events, key=lambda event: event["origin"]) == [
        {"type": "UPDATED", "source": "billing", "remoteId": "4", "origin": "GATEWAY",
         "invoice": {"number": "INV-NODE-4"}},
        {"type": "UPDATED", "source": "billing", "remoteId": "3", "origin": "WEBHOOK",
         "invoice": {"number": "INV-NODE-3"}},
    ]
    assert all("errors" not in payload for payload in result["events"])
