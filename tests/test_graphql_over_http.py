"""GraphQL over HTTP as its specification words it: media types and status codes, and the
graphql-http conformance audit against the gateway as a real process on a real port."""

from __future__ import annotations

import pytest

from gateway.web.graphql_http import GRAPHQL_RESPONSE_JSON, preferred_media_type
from tests.conftest import sim_control
from tests.tools import GatewayProcess, run_node

MODERN = {"accept": GRAPHQL_RESPONSE_JSON}
LEGACY = {"accept": "application/json"}


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "application/json"),
        ("*/*", "application/json"),
        ("application/json", "application/json"),
        (GRAPHQL_RESPONSE_JSON, GRAPHQL_RESPONSE_JSON),
        (f"{GRAPHQL_RESPONSE_JSON}, application/json;q=0.9", GRAPHQL_RESPONSE_JSON),
        (f"application/json, {GRAPHQL_RESPONSE_JSON};q=0.5", "application/json"),
        (f"{GRAPHQL_RESPONSE_JSON};q=0", "application/json"),
        (f"text/html, {GRAPHQL_RESPONSE_JSON}; charset=utf-8", GRAPHQL_RESPONSE_JSON),
    ],
)
def test_preferred_media_type(accept, expected):
    assert preferred_media_type(accept) == expected


async def test_modern_clients_get_the_new_media_type_and_400_for_request_errors(gateway):
    ok = await gateway.http.post("/graphql", json={"query": "{ sources { name } }"}, headers=MODERN)
    assert ok.status_code == 200
    assert ok.headers["content-type"] == f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8"
    assert ok.json()["data"]["sources"][0]["name"] == "ap"

    cases = {
        "parse": {"query": "{ sources { name "},
        "validation": {"query": "{ sources { noSuchField } }"},
        "variables": {"query": "query ($n: Int) { invoices(first: $n) { totalCount } }",
                      "variables": {"n": "three"}},
    }
    for what, body in cases.items():
        response = await gateway.http.post("/graphql", json=body, headers=MODERN)
        assert response.status_code == 400, what
        assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE_JSON), what
        assert "data" not in response.json(), what
        assert response.json()["errors"][0]["message"], what


async def test_legacy_clients_keep_200_with_data_null(gateway):
    response = await gateway.http.post(
        "/graphql", json={"query": "{ sources { noSuchField } }"}, headers=LEGACY
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["data"] is None
    assert "noSuchField" in body["errors"][0]["message"]


async def test_field_errors_keep_200_and_the_partial_data(gateway, simulators):
    sim_control(simulators.running["makini"], "POST", "/_sim/faults", {"mode": "503", "times": 10})
    query = '{ invoices(first: 3, filter: {sources: ["erp", "cloud"]}) { nodes { number } } }'
    response = await gateway.http.post("/graphql", json={"query": query}, headers=MODERN)
    assert response.status_code == 200
    body = response.json()
    assert len(body["data"]["invoices"]["nodes"]) == 3
    assert body["errors"][0]["extensions"]["source"] == "erp"


async def test_bad_requests_name_what_was_wrong(gateway):
    bad_json = await gateway.http.post(
        "/graphql", content=b"{not json", headers={**MODERN, "content-type": "application/json"}
    )
    assert bad_json.status_code == 400
    error = bad_json.json()["errors"][0]
    assert error["message"].startswith("Unable to parse request body as JSON: not valid JSON")
    assert error["extensions"] == {"code": "BAD_REQUEST"}
    no_query = await gateway.http.post("/graphql", json={"variables": {}}, headers=MODERN)
    assert no_query.status_code == 400
    assert "query" in no_query.json()["errors"][0]["message"].lower()
    mutation_over_get = await gateway.http.get(
        "/graphql", params={"query": "mutation { __typename }"}, headers=LEGACY
    )
    assert mutation_over_get.status_code in (400, 405)
    assert mutation_over_get.json()["errors"][0]["message"]


def test_graphql_http_audit_passes_every_check(simulators, tmp_path, report):
    gateway = GatewayProcess({"sources": simulators.source_blocks()}, tmp_path).start()
    try:
        audit = run_node("audit.cjs", gateway.url + "/graphql")
    finally:
        gateway.stop()
    report(audit["summary"])
    for line in audit["problems"]:
        report(f"  {line}")
    assert audit["returncode"] == 0
    assert (audit["total"], audit["ok"], audit["warn"], audit["error"]) == (61, 61, 0, 0), (
        audit["problems"]
    )
