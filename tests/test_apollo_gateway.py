"""Apollo Gateway (`@apollo/gateway` with `IntrospectAndCompose`, in Node) composes the
gateway, running as a real process with an API key, with a second subgraph that extends
`Invoice` by its key, and one query crosses both in each direction (see
docs/federation.md)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any

import httpx

from gateway.domain.ids import encode_id
from tests.tools import ROOT, GatewayProcess, require_tool

COMPOSITION = ROOT / ".cache" / "composition"
KEY = "key-supergraph-router"
QUERY = """query Crossing {
  invoices(first: 2, filter: {sources: ["billing"]}) {
    nodes { id number approvedBy }
  }
  approvals { id source number total { amount currency } approvedBy }
}"""


def run_apollo_gateway(url: str, approvals: dict[str, str]) -> dict[str, Any]:
    require_tool(shutil.which("node") is not None, "node is not installed",
                 "scripts/setup-composition installs it")
    require_tool((COMPOSITION / "node_modules" / "@apollo" / "gateway").is_dir(),
                 "@apollo/gateway is not in .cache/composition",
                 "scripts/setup-composition installs it")
    done = subprocess.run(
        ["node", str(COMPOSITION / "apollo_gateway.cjs"), url, KEY, json.dumps(approvals), QUERY],
        capture_output=True, text=True, timeout=180, cwd=COMPOSITION,
        env={**os.environ, "APOLLO_TELEMETRY_DISABLED": "1"}, check=False,
    )
    lines = done.stdout.strip().splitlines()
    assert lines, f"apollo_gateway.cjs printed nothing; stderr: {done.stderr[-2000:]}"
    result: dict[str, Any] = json.loads(lines[-1])
    assert done.returncode == 0, result
    return result


def test_apollo_gateway_composes_it_with_a_subgraph_extending_invoice(simulators, tmp_path):
    cloud = simulators.running["cloudbilling"].simulator.remote_ids("invoices")[0]
    first_billing = encode_id("Invoice", "billing", "1")
    approvals = {first_billing: "ada", encode_id("Invoice", "cloud", cloud): "grace"}
    gateway = GatewayProcess({
        "sources": [{**block, "cache_ttl": 0} for block in simulators.source_blocks()],
        "clients": [{"name": "supergraph-router", "key": KEY}],
    }, tmp_path).start()
    try:
        direct = httpx.post(gateway.url + "/graphql", headers={"Authorization": f"Bearer {KEY}"},
                            json={"query": "query($ids: [ID!]!) { nodes(ids: $ids) { ... on "
                                           "Invoice { id source number total { amount currency }"
                                           " } } }", "variables": {"ids": list(approvals)}},
                            timeout=30).json()["data"]["nodes"]
        run = run_apollo_gateway(gateway.url, approvals)
    finally:
        gateway.stop()
    assert run["supergraphHasApprovedBy"], "composed from both subgraphs' introspected SDL"
    assert run["status"] == 200 and "errors" not in run["result"], run["result"]
    data = run["result"]["data"]
    # From the gateway's list to the second subgraph (approvedBy by the key id) ...
    nodes = data["invoices"]["nodes"]
    assert nodes[0] == {"id": first_billing, "number": "INV-000001", "approvedBy": "ada"}
    assert len(nodes) == 2 and nodes[1]["approvedBy"] is None
    # ... and from the second subgraph's list to the gateway (`_entities`).
    assert [{k: v for k, v in entry.items() if k != "approvedBy"} for entry in data["approvals"]] \
        == direct
    assert [entry["approvedBy"] for entry in data["approvals"]] == ["ada", "grace"]
