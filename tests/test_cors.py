"""Browser apps on other origins (contract "Browser clients (v3)"): CORS for `/graphql` and
`/export/invoices` from the configured origins only, answered before authentication; no CORS
header for any other origin; a browser's WebSocket only from an allowed or the gateway's own
origin."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from gateway.app import create_app
from gateway.config import cors_origins, parse_config
from gateway.errors import ConfigError
from tests.conftest import GatewayClient, gateway_app, open_gateway
from tests.tools import serve_live

APP = "https://finance.example.com"
KEY = "key-finance-web-123"
AUTH = {"Authorization": f"Bearer {KEY}"}
CLIENTS = [{"name": "finance-web", "key": KEY}]
CORS = {"origins": [APP, "https://*.apps.example.com", "http://127.0.0.1:5173"]}
QUERY = "{ invoices(first: 1) { nodes { number } } }"
REQUESTED = "content-type, authorization, apollo-require-preflight, x-request-id"


def preflight(origin: str, method: str = "POST", headers: str = REQUESTED) -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers}


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {name: value for name, value in response.headers.items()
            if name.lower().startswith("access-control-")}


@pytest.fixture
async def gateway(simulators) -> AsyncIterator[GatewayClient]:
    app = gateway_app(simulators, {"clients": CLIENTS, "cors": CORS})
    async with open_gateway(app) as client:
        yield client


@pytest.mark.parametrize(("path", "method"), [("/graphql", "POST"), ("/graphql", "GET"),
                                              ("/export/invoices", "GET")])
async def test_a_preflight_from_an_allowed_origin_is_answered_without_a_credential(
    gateway, path, method
):
    response = await gateway.http.options(path, headers=preflight(APP, method))
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == APP
    methods = {m.strip() for m in response.headers["access-control-allow-methods"].split(",")}
    assert methods == {"GET", "POST", "OPTIONS"}
    allowed = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert set(REQUESTED.split(", ")) <= allowed
    assert response.headers["access-control-max-age"] == "600"
    assert "access-control-allow-credentials" not in response.headers, "off by default"
    assert "origin" in response.headers["vary"].lower()


async def test_a_preflight_asking_for_another_header_is_refused(gateway):
    response = await gateway.http.options(
        "/graphql", headers=preflight(APP, headers="content-type, x-custom-thing"))
    assert response.status_code == 400
    assert "headers" in response.text


async def test_an_allowed_origins_answers_are_readable_and_expose_the_request_id(gateway):
    headers = {"Origin": APP, **AUTH, "X-Request-Id": "browser-1"}
    response = await gateway.http.post("/graphql", json={"query": QUERY}, headers=headers)
    assert response.status_code == 200
    assert response.json()["data"]["invoices"]["nodes"]
    assert response.headers["access-control-allow-origin"] == APP
    exposed = response.headers["access-control-expose-headers"].lower().split(", ")
    assert "x-request-id" in exposed
    assert response.headers["x-request-id"] == "browser-1"
    assert "origin" in response.headers["vary"].lower()
    export = await gateway.http.get("/export/invoices?format=ndjson",
                                    headers={"Origin": APP, **AUTH})
    assert export.status_code == 200
    assert export.headers["access-control-allow-origin"] == APP
    exposed = export.headers["access-control-expose-headers"].lower().split(", ")
    assert {"content-disposition", "x-total-count"} <= set(exposed), "a download's name, size"
    assert "x-total-count" in export.headers


async def test_a_refused_credential_is_readable_by_the_page(gateway):
    """The page can show the 401's coded error instead of an opaque network failure."""
    response = await gateway.http.post("/graphql", json={"query": QUERY},
                                       headers={"Origin": APP, "Authorization": "Bearer wrong"})
    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == APP
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize("origin", ["https://books.apps.example.com",
                                    "https://ledger-2.apps.example.com",
                                    "http://127.0.0.1:5173"])
async def test_patterns_and_ports_match_as_configured(gateway, origin):
    response = await gateway.http.options("/graphql", headers=preflight(origin))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == origin


@pytest.mark.parametrize("origin", [
    "https://evil.example.com", "http://finance.example.com", "https://finance.example.com:8443",
    "https://apps.example.com", "https://a.b.apps.example.com", "https://x.apps.example.com.evil",
    "https://xapps.example.com", "http://127.0.0.1:5174", "null",
])
async def test_any_other_origin_gets_no_cors_header(gateway, origin, caplog):
    with caplog.at_level(logging.INFO, "invoice_gateway.requests"):
        refused = await gateway.http.options("/graphql", headers=preflight(origin))
    assert refused.status_code == 403
    logged = [json.loads(record.getMessage()) for record in caplog.records]
    assert {"status": 403, "outcome": "origin_not_allowed", "origin": origin}.items() \
        <= logged[-1].items(), "the operator sees which origin a frontend calls from"
    assert cors_headers(refused) == {}
    error = refused.json()["errors"][0]
    assert error["extensions"]["code"] == "ORIGIN_NOT_ALLOWED"
    assert origin in error["message"]
    # The request itself is served (a non-browser client may send any Origin), unmarked:
    # a browser does not let the page read it.
    served = await gateway.http.post("/graphql", json={"query": QUERY},
                                     headers={"Origin": origin, **AUTH})
    assert served.status_code == 200
    assert cors_headers(served) == {}
    assert "origin" in served.headers["vary"].lower(), "no cache mixes it with a marked one"


async def test_other_paths_carry_no_cors_header(gateway):
    for path in ("/healthz", "/readyz"):
        response = await gateway.http.get(path, headers={"Origin": APP, **AUTH})
        assert response.status_code == 200
        assert cors_headers(response) == {}, path


async def test_credentials_are_allowed_only_when_configured(simulators):
    cors = {**CORS, "allow_credentials": True, "max_age": 60}
    app = gateway_app(simulators, {"clients": CLIENTS, "cors": cors})
    async with open_gateway(app) as gateway:
        answer = await gateway.http.options("/graphql", headers=preflight(APP))
        assert answer.headers["access-control-allow-credentials"] == "true"
        assert answer.headers["access-control-max-age"] == "60"
        served = await gateway.http.post("/graphql", json={"query": QUERY},
                                         headers={"Origin": APP, **AUTH})
        assert served.headers["access-control-allow-credentials"] == "true"
        assert served.headers["access-control-allow-origin"] == APP


async def test_without_origins_there_are_no_cors_headers_at_all(gateway_without_cors):
    served = await gateway_without_cors.http.post(
        "/graphql", json={"query": QUERY}, headers={"Origin": APP, **AUTH})
    assert served.status_code == 200
    assert cors_headers(served) == {}
    assert "vary" not in served.headers
    refused = await gateway_without_cors.http.options("/graphql", headers=preflight(APP))
    assert refused.status_code == 403
    assert cors_headers(refused) == {}
    assert refused.json()["errors"][0]["extensions"]["code"] == "ORIGIN_NOT_ALLOWED"


@pytest.fixture
async def gateway_without_cors(simulators) -> AsyncIterator[GatewayClient]:
    async with open_gateway(gateway_app(simulators, {"clients": CLIENTS})) as client:
        yield client


# --- configuration ---------------------------------------------------------------------

SOURCES = [{"name": "billing", "kind": "invoicematic", "base_url": "http://127.0.0.1:1",
            "token": "t"}]


def cors_config(cors: Any) -> Any:
    return parse_config({"sources": SOURCES, "cors": cors}, {}).cors


def test_origins_are_kept_as_browsers_send_them():
    config = cors_config({"origins": ["HTTPS://Finance.Example.com:443", "http://[::1]:8080",
                                      "https://*.example.com", "https://finance.example.com"]})
    assert config.origins == ["https://finance.example.com", "http://[::1]:8080",
                              "https://*.example.com"]
    assert cors_config({}).origins == [] and cors_config({}).max_age == 600


@pytest.mark.parametrize(("cors", "named"), [
    ({"origins": ["https://app.example.com/"]}, "no path"),
    ({"origins": ["https://app.example.com/graphql"]}, "no path"),
    ({"origins": ["app.example.com"]}, "http:// or https://"),
    ({"origins": ["ftp://app.example.com"]}, "http:// or https://"),
    ({"origins": ["*"]}, "'*' alone"),
    ({"origins": ["https://app*.example.com"]}, "stand alone"),
    ({"origins": ["https://*.*.example.com"]}, "at most once"),
    ({"origins": ["https://*.com"]}, "first label"),
    ({"origins": ["https://app.*.com"]}, "first label"),
    ({"origins": "https://app.example.com"}, "a list"),
    ({"origins": [], "max_age": -1}, "max_age"),
    ({"origin": []}, "cors.origin': unknown key"),
])
def test_bad_cors_settings_stop_start_up_naming_what_is_wrong(cors, named):
    with pytest.raises(ConfigError) as caught:
        cors_config(cors)
    assert named in str(caught.value)
    assert "cors" in str(caught.value)


# --- WebSockets ------------------------------------------------------------------------

@pytest.fixture
async def ws_url(simulators) -> AsyncIterator[str]:
    app = gateway_app(simulators, {"clients": CLIENTS, "cors": CORS})
    async with serve_live(app) as url:
        yield url.replace("http", "ws") + "/graphql"


async def acknowledged(url: str, origin: str | None) -> bool:
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"],
                                  origin=origin) as ws:  # type: ignore[arg-type]
        await ws.send(json.dumps({"type": "connection_init", "payload": AUTH}))
        return bool(json.loads(await ws.recv())["type"] == "connection_ack")


async def test_a_browser_websocket_only_from_an_allowed_or_the_gateways_own_origin(ws_url):
    own = "http://" + ws_url.removeprefix("ws://").removesuffix("/graphql")
    for origin in (APP, "https://books.apps.example.com", own, None):
        assert await acknowledged(ws_url, origin), origin
    for origin in ("https://evil.example.com", "https://apps.example.com", "null"):
        with pytest.raises(InvalidStatus) as refused:
            await acknowledged(ws_url, origin)
        assert refused.value.response.status_code == 403, origin


# --- the demo --------------------------------------------------------------------------

async def test_the_demo_takes_browser_origins_from_the_command_line():
    app = create_app(demo_seed=7, demo_cors=cors_origins(["http://localhost:5173"]))
    async with open_gateway(app) as demo:
        answer = await demo.http.options("/graphql", headers=preflight("http://localhost:5173"))
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-origin"] == "http://localhost:5173"
        served = await demo.http.post("/graphql", json={"query": QUERY},
                                      headers={"Origin": "http://localhost:5173"})
        assert served.json()["data"]["invoices"]["nodes"]
        assert served.headers["access-control-allow-origin"] == "http://localhost:5173"


def test_the_demo_refuses_a_bad_origin_naming_it():
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "demo", "--port", "0",
         "--cors-origin", "http://localhost:5173/"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 2
    assert "--cors-origin: key 'origins': 'http://localhost:5173/' is not an origin" \
        in done.stderr
