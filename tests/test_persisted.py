"""Apollo's automatic persisted queries over POST and GET, and the manifest-only mode."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from gateway.app import create_app
from gateway.config import parse_config
from gateway.errors import ConfigError
from gateway.web.persisted import PersistedQueries
from tests.conftest import request_counts, zero_counts

QUERY = '{ invoices(first: 2, filter: {sources: ["cloud"]}) { nodes { id number } } }'
HASH = hashlib.sha256(QUERY.encode()).hexdigest()


def apq(digest: str = HASH) -> dict:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


async def test_apq_over_post_miss_register_hit(gateway, simulators):
    miss = await gateway.http.post("/graphql", json={"extensions": apq()})
    assert miss.status_code == 200
    assert miss.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert miss.json()["errors"][0]["message"] == "PersistedQueryNotFound"

    registered = await gateway.http.post("/graphql", json={"query": QUERY, "extensions": apq()})
    assert registered.status_code == 200 and "errors" not in registered.json()
    zero_counts(simulators)
    hit = await gateway.http.post("/graphql", json={"extensions": apq()})
    assert hit.status_code == 200
    assert hit.json() == registered.json()
    assert len(hit.json()["data"]["invoices"]["nodes"]) == 2
    assert request_counts(simulators)["cloudbilling"]  # executed, not replayed from a cache


async def test_apq_over_get_is_cacheable(make_gateway):
    gateway = await make_gateway(cache_ttl=5)
    params = {"extensions": json.dumps(apq())}
    miss = await gateway.http.get("/graphql", params=params)
    assert miss.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert "cache-control" not in miss.headers

    registered = await gateway.http.get("/graphql", params={**params, "query": QUERY})
    assert "errors" not in registered.json()
    hit = await gateway.http.get("/graphql", params=params)
    assert hit.status_code == 200 and hit.json() == registered.json()
    assert hit.headers["cache-control"] == "public, max-age=5"
    private = await gateway.http.get("/graphql", params=params,
                                     headers={"Authorization": "Bearer some-client-key"})
    assert private.headers["cache-control"] == "private, max-age=5"
    failed = await gateway.http.get("/graphql", params={"query": '{ invoice(id: "bad") { id } }'})
    assert failed.json()["errors"] and "cache-control" not in failed.headers


async def test_hash_mismatch_and_bad_extensions_are_refused(gateway):
    wrong = await gateway.http.post("/graphql", json={"query": QUERY, "extensions": apq("0" * 64)})
    assert wrong.status_code == 400
    assert wrong.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_HASH_MISMATCH"
    # nothing was registered under the wrong hash
    again = await gateway.http.post("/graphql", json={"extensions": apq("0" * 64)})
    assert again.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    version = await gateway.http.post(
        "/graphql", json={"extensions": {"persistedQuery": {"version": 2, "sha256Hash": HASH}}})
    assert version.status_code == 400
    assert version.json()["errors"][0]["extensions"]["code"] == (
        "PERSISTED_QUERY_VERSION_UNSUPPORTED")
    short = await gateway.http.post("/graphql", json={"extensions": apq("abc")})
    assert short.status_code == 400 and "64 lower-case hex" in short.json()["errors"][0]["message"]


def write_manifest(tmp_path: Path, *bodies: str) -> Path:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({
        "format": "apollo-persisted-query-manifest", "version": 1,
        "operations": [{"id": hashlib.sha256(body.encode()).hexdigest(), "name": f"Op{i}",
                        "type": "query", "body": body} for i, body in enumerate(bodies)],
    }))
    return path


async def test_manifest_only_serves_nothing_but_the_manifest(make_gateway, tmp_path):
    manifest = write_manifest(tmp_path, QUERY)
    gateway = await make_gateway(top={"persisted_queries": {"only": True,
                                                            "manifest": str(manifest)}})
    by_hash = await gateway.http.post("/graphql", json={"extensions": apq()})
    assert by_hash.status_code == 200 and len(by_hash.json()["data"]["invoices"]["nodes"]) == 2
    by_get = await gateway.http.get("/graphql", params={"extensions": json.dumps(apq())})
    assert by_get.json() == by_hash.json()
    by_text = await gateway.http.post("/graphql", json={"query": QUERY})
    assert by_text.json() == by_hash.json()

    other = "{ sources { name } }"
    refused = await gateway.http.post("/graphql", json={"query": other})
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["extensions"]["code"] == "QUERY_NOT_IN_SAFELIST"
    other_hash = hashlib.sha256(other.encode()).hexdigest()
    for body in ({"extensions": apq(other_hash)},
                 {"query": other, "extensions": apq(other_hash)}):
        response = await gateway.http.post("/graphql", json=body)
        assert response.status_code == 400
        assert response.json()["errors"][0]["extensions"]["code"] == (
            "PERSISTED_QUERY_NOT_IN_LIST")


def test_a_bad_manifest_stops_start_up_naming_it(tmp_path):
    bad = tmp_path / "ops.json"
    bad.write_text(json.dumps({"format": "something-else"}))
    config = parse_config({"sources": [{"name": "cloud", "kind": "cloudbilling",
                                        "base_url": "http://127.0.0.1:9/api/v1",
                                        "token": "t", "tenant_slug": "acme"}],
                           "persisted_queries": {"only": True, "manifest": str(bad)}}, {})
    with pytest.raises(ConfigError, match=r"ops\.json.*apollo-persisted-query-manifest"):
        create_app(config)
    missing = config.model_copy(update={"persisted_queries": config.persisted_queries
                                        .model_copy(update={"manifest": str(tmp_path / "no")})})
    with pytest.raises(ConfigError, match="cannot read"):
        create_app(missing)


def test_the_apq_store_is_bounded():
    store = PersistedQueries(size=2)
    texts = ["{ a }", "{ b }", "{ c }"]
    for text in texts:
        store.resolve(text, apq(hashlib.sha256(text.encode()).hexdigest()))
    codes = []
    for text in texts:
        try:
            store.resolve(None, apq(hashlib.sha256(text.encode()).hexdigest()))
            codes.append("hit")
        except Exception as exc:
            codes.append(getattr(exc, "code", "?"))
    assert codes == ["PERSISTED_QUERY_NOT_FOUND", "hit", "hit"]
