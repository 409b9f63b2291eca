"""The front door (`gateway.web.frontdoor`), through the app over ASGI: the request id on
every answer, which paths need a credential, the GraphQL request's one deadline, and the
JSON error bodies it answers itself before GraphQL runs.

Elsewhere: 401s for each kind of bad credential (tests/test_access.py), the 413 for a body
over `max_body_bytes` (tests/test_limits.py), the POST deadline bounding a slow source
(tests/test_resilience.py, test_one_deadline_per_request_bounds_a_slow_source), the JSON
500 for an escaped exception and its one log line (tests/test_malformed_requests.py), the
request log line and its request id (tests/test_observability.py).
"""

from __future__ import annotations

import time

import pytest

from tests.conftest import request_counts, sim_control, zero_counts

KEY = "frontdoor-test-key-0123"
CLIENTS = [{"name": "books", "key": KEY}]
QUERY = '{ invoices(first: 2, filter: {sources: ["cloud"]}) { nodes { id } } }'


def auth(key: str = KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_a_sane_request_id_comes_back_on_every_kind_of_answer(make_gateway):
    gateway = await make_gateway(top={"clients": CLIENTS})
    answers = {
        "graphql": await gateway.http.post("/graphql", json={"query": QUERY},
                                           headers={**auth(), "X-Request-Id": "trace-1.a:B_c"}),
        "healthz": await gateway.http.get("/healthz", headers={"X-Request-Id": "trace-1.a:B_c"}),
        "refused": await gateway.http.post("/graphql", json={"query": QUERY},
                                           headers={"X-Request-Id": "trace-1.a:B_c"}),
    }
    assert {name: r.status_code for name, r in answers.items()} == {
        "graphql": 200, "healthz": 200, "refused": 401}
    assert {r.headers["x-request-id"] for r in answers.values()} == {"trace-1.a:B_c"}


@pytest.mark.parametrize("sent", ["has spaces", "x" * 129, "semi;colon", "quote\"d", ""])
async def test_an_unusable_request_id_is_replaced_with_a_fresh_one(gateway, sent):
    response = await gateway.http.get("/healthz", headers={"X-Request-Id": sent})
    given = response.headers["x-request-id"]
    assert given != sent and len(given) == 32 and given.isalnum()
    again = await gateway.http.get("/healthz", headers={"X-Request-Id": sent})
    assert again.headers["x-request-id"] != given, "one id per request"


async def test_data_paths_need_a_credential_and_probes_do_not(make_gateway, simulators):
    gateway = await make_gateway(top={"clients": CLIENTS})
    zero_counts(simulators)
    for method, path in [("POST", "/graphql"), ("GET", "/graphql?query={__typename}"),
                         ("GET", "/graphql/"), ("GET", "/export/invoices?format=csv")]:
        response = await gateway.http.request(method, path, json={"query": QUERY})
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.headers["content-type"] == "application/json"
        (error,) = response.json()["errors"]
        assert error["extensions"] == {"code": "UNAUTHENTICATED"}
    assert sum(sum(routes.values()) for routes in request_counts(simulators).values()) == 0
    for path in ("/healthz", "/readyz"):
        assert (await gateway.http.get(path)).status_code == 200, path
    # Webhooks authenticate by their signature, not by a client key: the route itself
    # refuses an unsigned one, naming the signature header (not asking for a Bearer key).
    webhook = await gateway.http.post("/webhooks/billing", content=b"{}")
    assert "X-Webhook-Signature" in webhook.text
    assert "www-authenticate" not in webhook.headers


async def test_a_query_string_over_max_body_bytes_is_a_json_414(make_gateway, simulators):
    gateway = await make_gateway(top={"limits": {"max_body_bytes": 2000}})
    zero_counts(simulators)
    padding = " " * 2000
    response = await gateway.http.get("/graphql", params={"query": QUERY + padding},
                                      headers={"X-Request-Id": "long-url-1"})
    assert response.status_code == 414
    assert response.headers["x-request-id"] == "long-url-1"
    assert response.json() == {"errors": [{
        "message": "query string larger than max_body_bytes",
        "extensions": {"code": "OPERATION_LIMIT", "limit": "max_body_bytes"},
    }]}
    assert sum(sum(routes.values()) for routes in request_counts(simulators).values()) == 0
    fits = await gateway.http.get("/graphql", params={"query": QUERY})
    assert fits.status_code == 200 and "errors" not in fits.json()


async def test_a_get_query_has_the_same_one_deadline(make_gateway, simulators):
    gateway = await make_gateway(timeout=10, top={"request_timeout": 0.5})
    sim_control(simulators.running["cloudbilling"], "PUT", "/_sim/latency", {"ms": 3000})
    started = time.monotonic()
    response = await gateway.http.get("/graphql", params={"query": QUERY})
    elapsed = time.monotonic() - started
    assert elapsed < 2.5, f"a 3 s source held a GET {elapsed:.1f}s past a 0.5 s deadline"
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "UPSTREAM_TIMEOUT"
    assert error["extensions"]["source"] == "cloud"


async def test_each_request_gets_its_own_deadline(make_gateway, simulators):
    # The deadline starts with the request: a request made after slow ones still has the
    # whole budget (the 0.6 s source fits in 2 s each time, never in what would be left).
    gateway = await make_gateway(timeout=10, top={"request_timeout": 2})
    sim_control(simulators.running["cloudbilling"], "PUT", "/_sim/latency", {"ms": 600})
    zero_counts(simulators)
    for served in range(1, 5):
        body = await gateway.query(QUERY)
        assert "errors" not in body and "extensions" not in body, body  # no stale copy either
        assert len(body["data"]["invoices"]["nodes"]) == 2
        assert request_counts(simulators)["cloudbilling"] == {"GET /invoices": served}
