"""Installing and configuring the peer: Hive Gateway over the Invoicematic simulator.

Everything lives in `.cache/peer-bench/` (git-ignored): the npm packages, the OpenAPI
description of the simulator, the Mesh compose configuration, the composed supergraph and
the gateway configuration with the request-deduplication plugin. Nothing is faked: when a
tool is missing, `Missing` says which and how to get it, and the benchmark exits non-zero.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from benchmarks.invoicematic_openapi import openapi

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "peer-bench"
PACKAGES = {
    "@graphql-hive/gateway": "^2",
    "@graphql-hive/plugin-deduplicate-request": "^1",
    "@graphql-mesh/compose-cli": "^1",
    "@omnigraph/openapi": "*",
}
# With current releases the composed gateway does not start without this pin (it fails
# resolving the additional field); see docs/performance.md.
OVERRIDES = {"@graphql-tools/delegate": "12.2.1"}

GATEWAY_CONFIG = """\
import { defineConfig } from '@graphql-hive/gateway';
import { useDeduplicateRequest } from '@graphql-hive/plugin-deduplicate-request';

export const gatewayConfig = defineConfig({
  supergraph: './supergraph.graphql',
  plugins: () => [useDeduplicateRequest()],
  logging: 'error',
});
"""

# An invoice's customer is one GET /api/customers/{id} per invoice (the OpenAPI source has
# no batch read to map it to); the deduplication plugin merges identical GETs of a request.
COMPOSE_CONFIG = """\
import {{ defineConfig }} from '@graphql-mesh/compose-cli';
import {{ loadOpenAPISubgraph }} from '@omnigraph/openapi';

export const composeConfig = defineConfig({{
  output: 'supergraph.graphql',
  subgraphs: [
    {{
      sourceHandler: loadOpenAPISubgraph('Invoicematic', {{
        source: './invoicematic.json',
        endpoint: {endpoint},
        operationHeaders: {{ Authorization: {authorization} }},
      }}),
    }},
  ],
  additionalTypeDefs: /* GraphQL */ `
    extend type Invoice {{
      customer: getCustomer_200_response
        @resolveTo(
          sourceName: "Invoicematic"
          sourceTypeName: "Query"
          sourceFieldName: "getCustomer"
          requiredSelectionSet: "{{ customer_id }}"
          sourceArgs: {{ id: "{{root.customer_id}}" }}
        )
    }}
  `,
}});
"""


class Missing(RuntimeError):
    """A tool the benchmark needs is not installed; the message says how to get it."""


def require(tool: str, how: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise Missing(f"{tool} not found on PATH; {how}")
    return path


def install() -> None:
    """npm-install the peer's packages into the cache directory (once; idempotent)."""
    npm = require("npm", "install Node.js 20+ with npm (e.g. apt-get install nodejs npm)")
    require("node", "install Node.js 20+")
    CACHE.mkdir(parents=True, exist_ok=True)
    manifest = {"name": "peer-bench", "private": True,
                "dependencies": PACKAGES, "overrides": OVERRIDES}
    package_json = CACHE / "package.json"
    text = json.dumps(manifest, indent=2) + "\n"
    fresh = package_json.exists() and package_json.read_text() == text
    if fresh and (CACHE / "node_modules" / ".bin" / "hive-gateway").exists():
        return
    package_json.write_text(text)
    print("==> installing Hive Gateway into .cache/peer-bench (npm install)", flush=True)
    result = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
                            cwd=CACHE, capture_output=True, text=True)
    if result.returncode != 0:
        raise Missing(f"npm install failed in {CACHE}:\n{result.stderr[-2000:]}")


def installed_versions() -> dict[str, str]:
    versions = {}
    for name in [*PACKAGES, *OVERRIDES]:
        manifest = CACHE / "node_modules" / name / "package.json"
        versions[name] = json.loads(manifest.read_text())["version"] if manifest.exists() else "?"
    return versions


def compose(base_url: str, token: str) -> Path:
    """Write the OpenAPI description and configurations; compose the supergraph."""
    (CACHE / "invoicematic.json").write_text(json.dumps(openapi(base_url), indent=1))
    (CACHE / "mesh.config.ts").write_text(COMPOSE_CONFIG.format(
        endpoint=json.dumps(base_url), authorization=json.dumps(f"Bearer {token}")))
    (CACHE / "gateway.config.ts").write_text(GATEWAY_CONFIG)
    supergraph = CACHE / "supergraph.graphql"
    supergraph.unlink(missing_ok=True)
    result = subprocess.run([str(CACHE / "node_modules" / ".bin" / "mesh-compose")],
                            cwd=CACHE, capture_output=True, text=True, timeout=180)
    if result.returncode != 0 or not supergraph.exists():
        raise Missing(f"mesh-compose failed:\n{(result.stdout + result.stderr)[-2000:]}")
    return supergraph


def hive_command(port: int) -> list[str]:
    """Hive Gateway serving the composed supergraph: one process, no forked workers."""
    return [str(CACHE / "node_modules" / ".bin" / "hive-gateway"), "supergraph",
            "--port", str(port), "--host", "127.0.0.1", "--fork", "1"]
