"""Persisted queries on `/graphql` (`gateway.web.persisted_http`), through the app over
ASGI: one store behind POST and GET, the safelist over GET as over POST, the JSON errors it
answers itself, what it leaves to the GraphQL router, and Cache-Control on GETs.

Elsewhere (tests/test_persisted.py): APQ miss, register and hit over POST and over GET,
hash mismatch and bad `persistedQuery` values, the safelist over POST, the manifest read at
start-up and the bounded store.
"""

from __future__ import annotations

import hashlib
import json

from gateway.registry import KINDS
from tests.conftest import request_counts, zero_counts
from tests.test_persisted import write_manifest

QUERY = '{ invoices(first: 2, filter: {sources: ["billing"]}) { nodes { id number } } }'
HASH = hashlib.sha256(QUERY.encode()).hexdigest()
APQ = {"persistedQuery": {"version": 1, "sha256Hash": HASH}}


def code(response) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


async def test_a_query_registered_over_get_is_served_over_post_and_back(gateway, simulators):
    registered = await gateway.http.get(
        "/graphql", params={"query": QUERY, "extensions": json.dumps(APQ)})
    assert registered.status_code == 200 and "errors" not in registered.json()
    zero_counts(simulators)
    by_post = await gateway.http.post("/graphql", json={"extensions": APQ})
    assert by_post.json() == registered.json()
    assert request_counts(simulators)["invoicematic"], "executed, not replayed"

    other = "{ sources { name } }"
    other_apq = {"persistedQuery": {"version": 1,
                                    "sha256Hash": hashlib.sha256(other.encode()).hexdigest()}}
    await gateway.http.post("/graphql", json={"query": other, "extensions": other_apq})
    by_get = await gateway.http.get("/graphql", params={"extensions": json.dumps(other_apq)})
    assert by_get.status_code == 200
    assert [s["name"] for s in by_get.json()["data"]["sources"]] == list(
        KINDS.demo_names().values())


async def test_the_safelist_refuses_over_get_as_over_post(make_gateway, tmp_path, simulators):
    manifest = write_manifest(tmp_path, QUERY)
    gateway = await make_gateway(top={"persisted_queries": {"only": True,
                                                            "manifest": str(manifest)}})
    zero_counts(simulators)
    refused = await gateway.http.get("/graphql", params={"query": "{ sources { name } }"})
    assert refused.status_code == 400 and code(refused) == "QUERY_NOT_IN_SAFELIST"
    assert "cache-control" not in refused.headers
    unknown = await gateway.http.get("/graphql", params={"extensions": json.dumps(
        {"persistedQuery": {"version": 1, "sha256Hash": "f" * 64}})})
    assert unknown.status_code == 400 and code(unknown) == "PERSISTED_QUERY_NOT_IN_LIST"
    assert sum(sum(r.values()) for r in request_counts(simulators).values()) == 0
    listed = await gateway.http.get("/graphql", params={"query": QUERY})
    assert listed.status_code == 200 and len(listed.json()["data"]["invoices"]["nodes"]) == 2


async def test_unparsable_extensions_in_a_get_are_a_400_naming_the_parameter(gateway):
    response = await gateway.http.get("/graphql", params={"query": QUERY,
                                                          "extensions": "{not json"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    (error,) = response.json()["errors"]
    assert error["extensions"] == {"code": "BAD_REQUEST"}
    assert error["message"].startswith("Unable to parse the `extensions` parameter as JSON")


async def test_what_is_not_a_persisted_query_is_left_to_the_router(gateway):
    # Plain queries pass untouched, by POST and by GET.
    plain = await gateway.http.post("/graphql", json={"query": QUERY})
    assert plain.status_code == 200 and len(plain.json()["data"]["invoices"]["nodes"]) == 2
    # Malformed JSON and a non-object body are the router's to refuse (with its messages).
    broken = await gateway.http.post("/graphql", content=b'{"query": ',
                                     headers={"content-type": "application/json"})
    assert broken.status_code == 400 and code(broken) == "BAD_REQUEST"
    listed = await gateway.http.post("/graphql", json=[{"extensions": APQ}])
    assert listed.status_code == 400 and code(listed) == "BAD_REQUEST"
    # A body not sent as JSON is not read for `extensions` at all: the router refuses its
    # content type, whatever the body holds.
    text = await gateway.http.post("/graphql", content=json.dumps({"extensions": APQ}),
                                   headers={"content-type": "text/plain"})
    assert text.status_code in (400, 415) and "PERSISTED_QUERY" not in text.text


async def test_cache_control_follows_the_freshest_source(make_gateway, simulators):
    fresher = {**simulators.running["cloudbilling"].source_block("cloud2"), "cache_ttl": 5}
    gateway = await make_gateway(cache_ttl=30, extra_sources=[fresher])
    response = await gateway.http.get("/graphql", params={"query": QUERY})
    assert response.headers["cache-control"] == "public, max-age=5"
    alike = await make_gateway(cache_ttl=30)
    assert (await alike.http.get("/graphql", params={"query": QUERY})).headers[
        "cache-control"] == "public, max-age=30"
    # POSTs are never marked cacheable, errors neither.
    post = await gateway.http.post("/graphql", json={"query": QUERY})
    assert "cache-control" not in post.headers
    off = await make_gateway(cache_ttl=0)
    assert (await off.http.get("/graphql", params={"query": QUERY})).headers[
        "cache-control"] == "public, max-age=0"
