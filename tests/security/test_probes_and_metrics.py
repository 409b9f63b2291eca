"""Issue 19 item 12 and issue 17's probes: `/metrics` behind its own key, `/readyz` about
this process only (open, naming no upstream), `/openapi.json` and `/docs` off."""

from __future__ import annotations

import asyncio

import jwt
import pytest

from gateway.config import ConfigError, parse_config
from tests.conftest import sim_control
from tests.tools import postgres_schema

METRICS_KEY = "metrics-7d1c2a9f40be"
API_KEY = "fin-3c1f0a7e-key-for-probes"
JWT_SECRET = "jwt-secret-for-the-probe-tests-0123456789"
CLIENTS = [{"name": "finance", "key": API_KEY, "sources": ["erp"]}]


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def a_jwt_with_no_sources() -> str:
    return jwt.encode({"sub": "someone", "invoice_sources": []}, JWT_SECRET, algorithm="HS256")


async def test_metrics_need_the_metrics_key_and_no_api_credential_opens_them(make_gateway):
    gateway = await make_gateway(top={"clients": CLIENTS, "jwt": {"secret": JWT_SECRET},
                                      "metrics": {"key": METRICS_KEY}})
    for headers in ({}, bearer(API_KEY), bearer(a_jwt_with_no_sources()),
                    bearer(METRICS_KEY + "x"), {"Authorization": f"Basic {METRICS_KEY}"}):
        refused = await gateway.http.get("/metrics", headers=headers)
        assert refused.status_code == 401, headers
        assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert "metrics.key" in refused.json()["errors"][0]["message"]
        assert refused.headers["www-authenticate"] == "Bearer"
        assert "x-request-id" in refused.headers
        assert "invoice_gateway" not in refused.text
    served = await gateway.http.get("/metrics", headers=bearer(METRICS_KEY))
    assert served.status_code == 200
    assert "invoice_gateway_upstream_requests_total" in served.text
    # The metrics key is not an API key: it reads no data.
    graphql = await gateway.http.post("/graphql", json={"query": "{ sources { name } }"},
                                      headers=bearer(METRICS_KEY))
    assert graphql.status_code == 401


async def test_without_a_metrics_key_a_gateway_with_clients_serves_metrics_to_nobody(
    make_gateway,
):
    gateway = await make_gateway(top={"clients": CLIENTS})
    for headers in ({}, bearer(API_KEY)):
        refused = await gateway.http.get("/metrics", headers=headers)
        assert refused.status_code == 403, headers
        error = refused.json()["errors"][0]
        assert error["extensions"]["code"] == "FORBIDDEN" and "metrics.key" in error["message"]


async def test_without_a_metrics_key_an_open_gateway_serves_metrics_on_loopback_only(
    make_gateway,
):
    local = await make_gateway()
    assert (await local.http.get("/metrics")).status_code == 200
    remote = await make_gateway(peer="198.51.100.7")
    refused = await remote.http.get("/metrics")
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_a_short_metrics_key_stops_start_up():
    sources = [{"name": "erp", "kind": "makini", "base_url": "http://127.0.0.1:9", "token": "t"}]
    with pytest.raises(ConfigError) as refused:
        parse_config({"sources": sources, "metrics": {"key": "short"}}, {})
    assert "metrics.key" in str(refused.value) and "16 characters" in str(refused.value)
    assert "short" not in str(refused.value), "a secret is never echoed"
    with pytest.raises(ConfigError, match="unknown key"):
        parse_config({"sources": sources, "metrics": {"keys": METRICS_KEY}}, {})


async def test_metrics_show_each_sources_health_as_a_gauge(make_gateway, simulators):
    gateway = await make_gateway(top={"metrics": {"key": METRICS_KEY}})
    text = (await gateway.http.get("/metrics", headers=bearer(METRICS_KEY))).text
    for source in ("ap", "erp", "billing", "cloud"):
        assert f'invoice_gateway_source_up{{source="{source}"}} 1.0' in text, source
    gateway.app.state.health.ttl = 0  # the next scrape checks again
    sim_control(simulators.running["makini"], "POST", "/_sim/faults", {"mode": "503", "times": 5})
    text = (await gateway.http.get("/metrics", headers=bearer(METRICS_KEY))).text
    assert 'invoice_gateway_source_up{source="erp"} 0.0' in text
    assert 'invoice_gateway_source_up{source="cloud"} 1.0' in text


async def test_scrapes_share_one_health_check_per_interval(make_gateway, simulators):
    gateway = await make_gateway(top={"metrics": {"key": METRICS_KEY}})
    calls = 0
    adapter = gateway.app.state.adapters["erp"]
    check = adapter.check

    async def counted() -> None:
        nonlocal calls
        calls += 1
        await check()

    adapter.check = counted
    scrapes = [gateway.http.get("/metrics", headers=bearer(METRICS_KEY)) for _ in range(5)]
    assert all(r.status_code == 200 for r in await asyncio.gather(*scrapes))
    assert calls == 1


async def test_readyz_is_open_and_independent_of_upstreams(make_gateway, simulators):
    gateway = await make_gateway(top={"clients": CLIENTS})
    ready = await gateway.http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True,
                            "checks": {"config": "ok", "state": "ok", "draining": "no"}}
    sim_control(simulators.running["makini"], "POST", "/_sim/faults", {"mode": "503", "times": 5})
    still = await gateway.http.get("/readyz")
    assert still.status_code == 200, "an upstream's outage never takes the replica out"
    for name in ("erp", "makini", "ap", "billing", "cloud", "UPSTREAM", "503"):
        assert name not in still.text, f"/readyz names {name}"


async def test_readyz_fails_when_the_state_store_does_not_answer(make_gateway):
    gateway = await make_gateway()
    store = gateway.app.state.store

    async def down() -> None:
        raise OSError("connection refused by db.internal:5432")

    store.ping = down
    response = await gateway.http.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"ready": False,
                               "checks": {"config": "ok", "state": "unreachable",
                                          "draining": "no"}}
    assert "db.internal" not in response.text


async def test_readyz_fails_while_draining(make_gateway):
    gateway = await make_gateway()
    gateway.app.state.draining = True
    response = await gateway.http.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["draining"] == "yes"
    assert (await gateway.http.get("/healthz")).status_code == 200, "still alive"


async def test_readyz_pings_a_postgresql_state_store(make_gateway):
    with postgres_schema() as url:
        gateway = await make_gateway(top={"state": url})
        assert (await gateway.http.get("/readyz")).json()["checks"]["state"] == "ok"
        store = gateway.app.state.store
        await store.close()  # the database gone from under it
        assert (await gateway.http.get("/readyz")).status_code == 503


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"])
async def test_openapi_and_its_pages_are_off(make_gateway, path):
    gateway = await make_gateway(top={"clients": CLIENTS})
    for headers in ({}, bearer(API_KEY)):
        response = await gateway.http.get(path, headers=headers)
        assert response.status_code == 404, (path, headers)
        assert "openapi" not in response.text.lower()
