"""GraphiQL served entirely by the gateway: the page names only the gateway's own assets,
and in headless Debian chromium the editor renders, a typed query runs and its data shows,
with every request to another origin blocked and reported."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from pathlib import Path

import httpx

from gateway.web.graphql_http import ASSETS_PATH, graphiql_assets
from tests.live import live_gateway
from tests.tools import (
    NODE_MODULES,
    NODE_SCRIPTS,
    TEST_OUTPUT,
    GatewayProcess,
    require_tool,
    run_node,
)

CHROMIUM = Path("/usr/bin/chromium")
QUERY = """{
  invoices(first: 3, filter: {sources: ["erp", "billing"]}) {
    nodes { number source total { amount currency } }
  }
}"""


async def test_page_loads_only_the_gateways_own_pinned_assets(gateway):
    page = await gateway.http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    links = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert {link.rsplit("/", 1)[-1] for link in links} >= {
        "react.production.min.js", "react-dom.production.min.js", "graphiql.min.js",
        "graphiql.min.css", "plugin-explorer.umd.js", "plugin-explorer.css",
    }
    assert "://" not in page.text.replace("data:,", ""), "no absolute URL to another host"
    for link in links:
        if link.startswith(ASSETS_PATH):
            asset = await gateway.http.get(link)
            assert asset.status_code == 200, link
            shipped = graphiql_assets() / link.removeprefix(ASSETS_PATH + "/")
            assert asset.content == shipped.read_bytes()


def test_licences_and_versions_ship_beside_the_assets():
    names = {entry.name for entry in graphiql_assets().iterdir()}
    assert {"LICENSE-graphiql", "LICENSE-react", "LICENSE-react-dom",
            "LICENSE-plugin-explorer", "VERSIONS.md"} <= names
    versions = (graphiql_assets() / "VERSIONS.md").read_text(encoding="utf-8")
    for pinned in ("| graphiql | 3.8.3", "| react | 18.2.0", "| react-dom | 18.2.0",
                   "| @graphiql/plugin-explorer | 1.0.2"):
        assert pinned in versions


def test_graphiql_runs_a_typed_query_in_headless_chromium(simulators, tmp_path, report):
    require_tool(CHROMIUM.exists(), f"{CHROMIUM} (Debian's chromium) is not installed")
    require_tool(shutil.which("node") is not None, "node is not installed")
    TEST_OUTPUT.mkdir(parents=True, exist_ok=True)
    screenshot = TEST_OUTPUT / "graphiql.png"
    screenshot.unlink(missing_ok=True)
    gateway = GatewayProcess({"sources": simulators.source_blocks()}, tmp_path).start()
    try:
        expected = httpx.post(gateway.url + "/graphql", json={"query": QUERY}, timeout=30).json()
        run = run_node("graphiql.cjs", gateway.url + "/graphql", QUERY, str(screenshot),
                       str(tmp_path / "chromium-profile"))
    finally:
        gateway.stop()
    report(f"GraphiQL in headless chromium: screenshot {screenshot}")
    assert run["returncode"] == 0, run
    assert run["offsite"] == [], "the page asked for something beyond the gateway"
    assert run["pageErrors"] == []
    assert run["editorText"] == QUERY, "the query typed into the editor"
    assert "Show GraphiQL Explorer" in run["explorer"], "the explorer plugin is kept"
    assert "invoices" in run["explorerText"] and "sources" in run["explorerText"]
    nodes = run["result"]["data"]["invoices"]["nodes"]
    assert len(nodes) == 3
    assert run["result"] == expected, "the result pane shows what the gateway answers"
    assert screenshot.stat().st_size > 10_000


SUBSCRIPTION = """subscription {
  invoiceEvents(sources: ["billing"]) { type remoteId origin invoice { number } }
}"""


async def test_graphiql_runs_a_subscription_from_its_editor(tmp_path, report):
    """The live-events walkthrough of docs/events.md: a subscription typed into GraphiQL runs (over a
    WebSocket, graphql-transport-ws), a write happens, and the event shows in the result
    pane."""
    require_tool(CHROMIUM.exists(), f"{CHROMIUM} (Debian's chromium) is not installed")
    require_tool(shutil.which("node") is not None, "node is not installed")
    require_tool((NODE_MODULES / "playwright-core").is_dir(), "playwright-core not in .cache/node")
    TEST_OUTPUT.mkdir(parents=True, exist_ok=True)
    screenshot = TEST_OUTPUT / "graphiql-subscription.png"
    screenshot.unlink(missing_ok=True)
    async with live_gateway() as live:
        process = await asyncio.create_subprocess_exec(
            "node", str(NODE_SCRIPTS / "graphiql-subscribe.cjs"), live.url + "/graphql",
            SUBSCRIPTION, "INV-GRAPHIQL-4", str(screenshot), str(tmp_path / "profile"),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "NODE_PATH": str(NODE_MODULES)},
        )
        try:
            for _ in range(3000):  # until the page's subscription runs
                if live.hub.bus.subscriber_count or process.returncode is not None:
                    break
                await asyncio.sleep(0.02)
            if not live.hub.bus.subscriber_count:
                out, err = await asyncio.wait_for(process.communicate(), 30)
                raise AssertionError(f"GraphiQL never subscribed: {out.decode()[-2000:]} "
                                     f"{err.decode()[-2000:]}")
            await live.mutate_number(4, "INV-GRAPHIQL-4")
            out, err = await asyncio.wait_for(process.communicate(), 60)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    report(f"GraphiQL subscription in headless chromium: screenshot {screenshot}")
    lines = out.decode().strip().splitlines()
    assert lines, f"graphiql-subscribe.cjs printed nothing; stderr: {err.decode()[-2000:]}"
    run = json.loads(lines[-1])
    assert process.returncode == 0 and "error" not in run, run
    assert run["offsite"] == [] and run["pageErrors"] == []
    assert run["sockets"] == [live.ws_url], "the subscription went over the WebSocket"
    assert run["result"] == {"data": {"invoiceEvents": {
        "type": "UPDATED", "remoteId": "4", "origin": "GATEWAY",
        "invoice": {"number": "INV-GRAPHIQL-4"}}}}
