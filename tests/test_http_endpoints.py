"""The HTTP surface: GraphQL over GET and POST, GraphiQL, health, readiness, webhooks."""

from __future__ import annotations

from tests.conftest import invoicematic_delivery, request_counts, sim_control, zero_counts


async def test_graphql_over_get_and_graphiql(gateway):
    response = await gateway.http.get("/graphql", params={"query": "{ sources { name } }"})
    assert response.status_code == 200
    assert response.json()["data"]["sources"][0]["name"] == "ap"
    page = await gateway.http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()


async def test_healthz_and_readyz(gateway, simulators):
    assert (await gateway.http.get("/healthz")).json() == {"status": "ok"}
    ready = await gateway.http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["ready"] is True
    sim_control(simulators.running["makini"], "POST", "/_sim/faults", {"mode": "503", "times": 9})
    # Readiness is this process's (tests/security/test_probes_and_metrics.py): one source
    # down leaves it ready; the source's health is `sources { healthy }` and /metrics.
    assert (await gateway.http.get("/readyz")).status_code == 200
    sources = (await gateway.data("{ sources { name healthy } }"))["sources"]
    assert {s["name"]: s["healthy"] for s in sources}["erp"] is False


async def test_webhook_signature_checked_and_cache_dropped(make_gateway, simulators):
    gateway = await make_gateway(cache_ttl=60, webhook_secret="whsec-test")
    body, headers = invoicematic_delivery("whsec-test", "invoice.updated", {"id": 1})
    query = '{ invoices(first: 1, filter: {sources: ["billing"]}) { nodes { number } } }'
    first = await gateway.data(query)
    zero_counts(simulators)

    def billing_calls() -> int:
        return sum(request_counts(simulators)["invoicematic"].values())

    assert await gateway.data(query) == first
    assert billing_calls() == 0, "served from the read cache"
    bad = await gateway.http.post("/webhooks/billing", content=body,
                                  headers={**headers, "X-Webhook-Signature": "0" * 64})
    assert bad.status_code == 401
    assert "signature" in bad.json()["error"]
    assert await gateway.data(query) == first
    assert billing_calls() == 0, "a bad signature changes nothing"
    ok = await gateway.http.post("/webhooks/billing", content=body, headers=headers)
    assert ok.status_code == 202
    assert await gateway.data(query) == first
    assert billing_calls() == 1, "a valid event drops the source's cached reads"

    unknown = await gateway.http.post("/webhooks/nope", content=body)
    assert unknown.status_code == 404
    no_hooks = await gateway.http.post("/webhooks/cloud", content=body)
    assert no_hooks.status_code == 404
