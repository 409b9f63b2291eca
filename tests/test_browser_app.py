"""A browser app on another origin, the gateway's first named user: a page served from a
second local origin uses Apollo Client in headless Debian chromium to run a query with an
API key and to receive an `invoiceEvents` event over graphql-ws, and downloads the CSV
export; the same page from an origin not in `cors.origins` is refused by the browser
(CORS), its socket by the gateway."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from tests.tools import ROOT, TEST_OUTPUT, GatewayProcess, require_tool

CHROMIUM = Path("/usr/bin/chromium")
APP_DIR = ROOT / "tests" / "browser_app"
APP_MODULES = ROOT / ".cache" / "browser_app" / "node_modules"
KEY = "key-finance-web-browser"


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def static_site(folder: Path) -> Iterator[str]:
    """`folder` served on a free 127.0.0.1 port: a page origin of its own."""
    handler = functools.partial(_QuietFiles, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def drive(site: Path, profile: Path, screenshot: Path, *urls: str) -> dict[str, Any]:
    require_tool((APP_MODULES / "@apollo" / "client").is_dir(),
                 "the browser app's npm packages are not in .cache/browser_app")
    env = {**os.environ, "NODE_PATH": str(APP_MODULES)}
    done = subprocess.run(
        ["node", str(APP_DIR / "drive.cjs"), str(site), str(profile), str(screenshot), *urls],
        capture_output=True, text=True, timeout=240, env=env, check=False,
    )
    lines = done.stdout.strip().splitlines()
    assert lines, f"drive.cjs printed nothing; stderr: {done.stderr[-2000:]}"
    result: dict[str, Any] = json.loads(lines[-1])
    assert done.returncode == 0, result
    return result


def test_an_apollo_client_app_on_an_allowed_origin_queries_and_subscribes(
    fresh_simulators, tmp_path, report
):
    require_tool(CHROMIUM.exists(), f"{CHROMIUM} (Debian's chromium) is not installed")
    TEST_OUTPUT.mkdir(parents=True, exist_ok=True)
    screenshot = TEST_OUTPUT / "browser-app.png"
    screenshot.unlink(missing_ok=True)
    site = tmp_path / "site"
    site.mkdir()
    with static_site(site) as allowed, static_site(site) as other:
        gateway = GatewayProcess({
            "sources": fresh_simulators.source_blocks(),
            "clients": [{"name": "finance-web", "key": KEY, "sources": ["billing"],
                         "access": "write"}],
            "cors": {"origins": [allowed]},
        }, tmp_path).start()
        try:
            query = "?" + urlencode({"gateway": gateway.url, "key": KEY})
            run = drive(site, tmp_path / "profile", screenshot,
                        f"{allowed}/index.html{query}", f"{other}/index.html{query}")
        finally:
            gateway.stop()
    report(f"Apollo Client app in headless chromium: screenshot {screenshot}")
    assert run["offsite"] == []
    served, refused = run["pages"]

    app = served["result"]
    assert served["pageErrors"] == [] and app["errors"] == [], served
    assert app["origin"] == allowed
    assert len(app["invoices"]) == 2
    assert {invoice["source"] for invoice in app["invoices"]} == {"billing"}
    assert all(request_id for request_id in app["requestIds"]), "X-Request-Id is exposed"
    download = app["download"]
    assert (download["status"], download["disposition"]) == (
        200, 'attachment; filename="invoices.csv"'), download
    assert download["header"].startswith("id,") and download["rows"] == int(download["total"])
    event = app["event"]
    assert (event["type"], event["source"], event["origin"]) == ("UPDATED", "billing", "GATEWAY")
    assert event["invoiceId"] == app["invoices"][0]["id"]
    assert event["invoice"]["number"].startswith("INV-BROWSER-")
    assert app["writes"][0]["userErrors"] == []
    assert "connected" in app["socket"]

    blocked = refused["result"]
    assert blocked["origin"] == other
    assert "invoices" not in blocked
    assert blocked["queryError"]["message"] == "Failed to fetch", blocked
    assert blocked["download"]["error"]["message"] == "Failed to fetch"
    assert any("blocked by CORS policy" in line and other in line
               for line in refused["console"]), refused["console"]
    assert "connected" not in blocked["socket"], "the gateway refused the page's socket"
    assert "error" in blocked["subscription"], blocked
