"""Access: API keys and JWTs (HS256 and a JWKS served by the test on 127.0.0.1), 401 before
anything runs, sources scoped per client, and no cache entry crossing tenants."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from gateway.cli.main import main
from tests.conftest import request_counts, zero_counts

FINANCE_KEY = "fin-3c1f0a7e-key"
OPS_KEY = "ops-99d2b41c-key"
CLIENTS = [
    {"name": "finance", "key": FINANCE_KEY, "sources": ["erp", "billing"]},
    {"name": "ops", "key_sha256": hashlib.sha256(OPS_KEY.encode()).hexdigest(),
     "access": "write"},
]
LIST = "{ invoices(first: 500) { nodes { id source } } }"


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def total_upstream(simulators) -> int:
    return sum(sum(routes.values()) for routes in request_counts(simulators).values())


async def assert_401(gateway, headers: dict[str, str] | None, fragment: str) -> None:
    response = await gateway.http.post("/graphql", json={"query": LIST}, headers=headers)
    assert response.status_code == 401, response.text
    (error,) = response.json()["errors"]
    assert error["extensions"] == {"code": "UNAUTHENTICATED"}
    assert fragment.lower() in error["message"].lower()
    assert "data" not in response.json()


async def test_missing_or_wrong_key_is_401_with_no_upstream_request(make_gateway, simulators):
    gateway = await make_gateway(top={"clients": CLIENTS})
    zero_counts(simulators)
    await assert_401(gateway, None, "authentication required")
    await assert_401(gateway, bearer("not-a-key"), "unknown API key")
    await assert_401(gateway, {"Authorization": f"Basic {FINANCE_KEY}"}, "Bearer")
    get = await gateway.http.get("/graphql", params={"query": LIST})
    assert get.status_code == 401
    assert total_upstream(simulators) == 0
    assert FINANCE_KEY not in (await gateway.http.post("/graphql", json={"query": LIST},
                                                       headers=bearer("x"))).text


async def test_a_scoped_client_sees_only_its_sources(make_gateway, simulators):
    gateway = await make_gateway(top={"clients": CLIENTS})
    everything = await gateway.data(LIST, headers=bearer(OPS_KEY))
    assert {n["source"] for n in everything["invoices"]["nodes"]} == {"erp", "billing", "cloud"}
    cloud_id = next(n["id"] for n in everything["invoices"]["nodes"] if n["source"] == "cloud")
    erp_id = next(n["id"] for n in everything["invoices"]["nodes"] if n["source"] == "erp")
    customers = await gateway.data('{ customers(first: 1, sources: ["cloud"]) { nodes { id } } }',
                                   headers=bearer(OPS_KEY))
    cloud_customer = customers["customers"]["nodes"][0]["id"]

    finance = bearer(FINANCE_KEY)
    zero_counts(simulators)
    data = await gateway.data("{ invoices(first: 500) { nodes { source } } "
                              "customers(first: 500) { nodes { source } } sources { name } }",
                              headers=finance)
    assert {n["source"] for n in data["invoices"]["nodes"]} == {"erp", "billing"}
    assert {n["source"] for n in data["customers"]["nodes"]} == {"erp", "billing"}
    assert [s["name"] for s in data["sources"]] == ["erp", "billing"]

    forbidden = [
        ('{ invoices(filter: {sources: ["cloud"]}) { nodes { id } } }', None),
        ("query($id: ID!) { node(id: $id) { id } }", {"id": cloud_id}),
        ("query($id: ID) { invoice(id: $id) { id } }", {"id": cloud_id}),
        ('{ invoice(source: "cloud", remoteId: "1") { id } }', None),
        ("query($c: ID) { invoices(filter: {customerId: $c}) { nodes { id } } }",
         {"c": cloud_customer}),
        ('{ customers(sources: ["ap", "cloud"]) { nodes { id } } }', None),
    ]
    for query, variables in forbidden:
        body = await gateway.query(query, variables, headers=finance)
        (error,) = body["errors"]
        assert error["extensions"]["code"] == "FORBIDDEN", (query, error)
        assert "cloud" in error["message"] or "'ap'" in error["message"]
    body = await gateway.query("query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
                               {"ids": [erp_id, cloud_id]}, headers=finance)
    assert body["data"]["nodes"] == [{"id": erp_id}, None]
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "FORBIDDEN" and error["path"] == ["nodes", 1]
    counts = request_counts(simulators)
    assert sum(counts["cloudbilling"].values()) == 0, "nothing of cloud was fetched"
    assert sum(counts["makershub"].values()) == 0


CREATE_CUSTOMER = """mutation($source: String!) { createCustomer(input: {source: $source,
    name: "Guard Test Ltd", email: "ap@guard.example"}) { customer { id name }
    userErrors { code message field } } }"""


async def test_writes_need_write_access_to_that_source(make_gateway, simulators):
    clients = [*CLIENTS, {"name": "erp-writer", "key": "erp-writer-key-1", "sources": ["erp"],
                          "access": "write"}]
    gateway = await make_gateway(top={"clients": clients})
    listing = await gateway.data('{ invoices(first: 1, filter: {sources: ["cloud"]}) '
                                 "{ nodes { id } } }", headers=bearer(OPS_KEY))
    cloud_invoice = listing["invoices"]["nodes"][0]["id"]
    refused = [
        (FINANCE_KEY, CREATE_CUSTOMER, {"source": "erp"}),  # may read erp, not write
        ("erp-writer-key-1", CREATE_CUSTOMER, {"source": "cloud"}),  # may not touch cloud
        ("erp-writer-key-1", 'mutation($id: ID!) { deleteInvoice(input: {id: $id}) '
         "{ deletedId userErrors { code message field } } }", {"id": cloud_invoice}),
    ]
    zero_counts(simulators)
    for key, mutation, variables in refused:
        body = await gateway.query(mutation, variables, headers=bearer(key))
        (payload,) = body["data"].values()
        (error,) = payload["userErrors"]
        assert error["code"] == "FORBIDDEN", (key, error)
        assert "may not write" in error["message"]
    assert total_upstream(simulators) == 0, "refused before any upstream request"
    made = await gateway.data(CREATE_CUSTOMER, {"source": "cloud"}, headers=bearer(OPS_KEY))
    assert made["createCustomer"]["userErrors"] == []
    assert made["createCustomer"]["customer"]["name"] == "Guard Test Ltd"


async def test_export_and_bi_cover_only_the_clients_sources(make_gateway, simulators):
    gateway = await make_gateway(top={"clients": CLIENTS})
    finance = bearer(FINANCE_KEY)
    zero_counts(simulators)
    assert (await gateway.http.get("/export/invoices", params={"format": "ndjson"})
            ).status_code == 401
    assert total_upstream(simulators) == 0
    response = await gateway.http.get("/export/invoices", params={"format": "ndjson"},
                                      headers=finance)
    assert response.status_code == 200
    rows = [json.loads(line) for line in response.text.splitlines()]
    assert {row["source"] for row in rows} == {"erp", "billing"}
    denied = await gateway.http.get("/export/invoices", params={"format": "csv",
                                                                "sources": "erp,cloud"},
                                    headers=finance)
    assert denied.status_code == 403
    assert denied.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    summary = await gateway.data("{ invoiceSummary(groupBy: [SOURCE]) { source count } }",
                                 headers=finance)
    assert {row["source"] for row in summary["invoiceSummary"]} == {"erp", "billing"}
    body = await gateway.query('{ aging(type: RECEIVABLE, filter: {sources: ["cloud"]}) '
                               "{ total { amount } } }", headers=finance)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert sum(request_counts(simulators)["cloudbilling"].values()) == 0


async def test_two_clients_on_two_tenants_never_share_cached_records(make_gateway, simulators):
    tenant_b = {**simulators.running["cloudbilling"].source_block("cloud_b"),
                "tenant_slug": "globex", "cache_ttl": 60}
    clients = [{"name": "acme-app", "key": "key-acme-0001", "sources": ["cloud"]},
               {"name": "globex-app", "key": "key-globex-01", "sources": ["cloud_b"]}]
    gateway = await make_gateway(cache_ttl=60, extra_sources=[tenant_b],
                                 top={"clients": clients})
    query = "{ invoices(first: 500) { nodes { source remoteId number } } }"
    acme = (await gateway.data(query, headers=bearer("key-acme-0001")))["invoices"]["nodes"]
    globex = (await gateway.data(query, headers=bearer("key-globex-01")))["invoices"]["nodes"]
    sim = simulators.running["cloudbilling"].simulator
    assert {n["remoteId"] for n in acme} == set(sim.tenants["acme"].invoices)
    assert {n["remoteId"] for n in globex} == set(sim.tenants["globex"].invoices)
    assert not {n["remoteId"] for n in acme} & {n["remoteId"] for n in globex}
    zero_counts(simulators)
    again_a = (await gateway.data(query, headers=bearer("key-acme-0001")))["invoices"]["nodes"]
    again_b = (await gateway.data(query, headers=bearer("key-globex-01")))["invoices"]["nodes"]
    assert total_upstream(simulators) == 0, "both answered from the cache"
    assert (again_a, again_b) == (acme, globex)


# --- JWT ----------------------------------------------------------------------------

class JwksServer:
    def __init__(self, jwks: dict[str, Any]) -> None:
        body = json.dumps(jwks).encode()
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def idp() -> Iterator[tuple[rsa.RSAPrivateKey, JwksServer]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    server = JwksServer({"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]})
    yield key, server
    server.server.shutdown()


ISSUER = "https://idp.test/"
AUDIENCE = "invoice-gateway"


def token(key: Any, *, algorithm: str = "RS256", kid: str | None = "k1", **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-7", "iat": now, "exp": now + 300,
               "invoice_sources": ["cloud"], **claims}
    headers = {"kid": kid} if kid else None
    return jwt.encode(payload, key, algorithm=algorithm, headers=headers)


async def test_jwks_tokens_checked_for_signature_expiry_issuer_audience(make_gateway, simulators,
                                                                        idp):
    key, server = idp
    gateway = await make_gateway(top={"jwt": {"jwks_url": server.url, "issuer": ISSUER,
                                                 "audience": AUDIENCE}})
    good = await gateway.data(LIST, headers=bearer(token(key)))
    assert {n["source"] for n in good["invoices"]["nodes"]} == {"cloud"}
    assert server.requests >= 1, "keys were fetched from the JWKS URL"

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    zero_counts(simulators)
    await assert_401(gateway, bearer(token(key, exp=int(time.time()) - 600)), "expired")
    await assert_401(gateway, bearer(token(other)), "invalid token")
    await assert_401(gateway, bearer(token(key, aud="someone-else")), "audience")
    await assert_401(gateway, bearer(token(key, iss="https://evil.test/")), "issuer")
    await assert_401(gateway, bearer(token(key, kid="unknown")), "invalid token")
    await assert_401(gateway, bearer(token(key)[:-4] + "AAAA"), "invalid token")
    assert total_upstream(simulators) == 0
    fetches = server.requests
    for n in range(5):
        await assert_401(gateway, bearer(token(key, kid=f"made-up-{n}")), "invalid token")
    assert server.requests <= fetches + 1, "unknown kids cannot make us hammer the JWKS URL"

    none_claim = await gateway.data(LIST, headers=bearer(token(key, invoice_sources=None)))
    assert none_claim["invoices"]["nodes"] == [], "absent sources claim: no source"


async def test_hs256_secret_and_write_scope(make_gateway, simulators):
    secret = "hs256-test-secret-with-enough-length!"
    gateway = await make_gateway(top={"jwt": {"secret": secret, "audience": AUDIENCE}})
    reader = token(secret, algorithm="HS256", kid=None, invoice_sources="erp billing")
    data = await gateway.data("{ sources { name } }", headers=bearer(reader))
    assert [s["name"] for s in data["sources"]] == ["erp", "billing"]
    await assert_401(gateway, bearer(token("wrong-secret-but-long-enough-too!", algorithm="HS256",
                                           kid=None)), "invalid token")
    from gateway.web.access import Authenticator

    authenticator = Authenticator(gateway.app.state.config)
    writer = token(secret, algorithm="HS256", kid=None, scope="openid invoices:write")
    identity = await authenticator.identify(f"Bearer {writer}", "10.0.0.1")
    assert identity.may_write("cloud") and identity.may_read("cloud")
    assert not identity.may_write("erp")
    reader_identity = await authenticator.identify(f"Bearer {reader}", "10.0.0.1")
    assert reader_identity.may_read("erp") and not reader_identity.may_write("erp")


# --- anonymous access and the other endpoints ------------------------------------------

async def test_anonymous_only_from_loopback_unless_allowed(make_gateway, simulators):
    local = await make_gateway()
    assert (await local.data("{ sources { name } }"))["sources"]
    remote = await make_gateway(peer="198.51.100.7")
    zero_counts(simulators)
    await assert_401(remote, None, "loopback")
    assert total_upstream(simulators) == 0
    allowed = await make_gateway(peer="198.51.100.7", top={"allow_anonymous": True})
    assert (await allowed.data("{ sources { name } }"))["sources"]


async def test_probes_open_metrics_need_their_key(make_gateway):
    gateway = await make_gateway(top={"clients": CLIENTS, "metrics": {"key": "m" * 24}})
    assert (await gateway.http.get("/healthz")).status_code == 200
    assert (await gateway.http.get("/readyz")).status_code == 200  # names no source
    page = await gateway.http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower(), "the page holds no data"
    sneaky = await gateway.http.get("/graphql", params={"query": "{ sources { name } }"},
                                    headers={"accept": "text/html"})
    assert sneaky.status_code == 401
    assert (await gateway.http.get("/metrics")).status_code == 401
    assert (await gateway.http.get("/metrics", headers=bearer(FINANCE_KEY))).status_code == 401
    assert (await gateway.http.get("/metrics", headers=bearer("m" * 24))).status_code == 200


def write_config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text("sources:\n  - name: erp\n    kind: makini\n"
                    "    base_url: http://127.0.0.1:9/\n    token: t\n" + extra)
    return path


def test_serve_refuses_a_public_address_without_credentials(tmp_path, capsys):
    assert main(["serve", "--config", str(write_config(tmp_path)), "--host", "0.0.0.0",
                 "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "refusing to serve on 0.0.0.0 without credentials" in err
    assert "allow_anonymous" in err
