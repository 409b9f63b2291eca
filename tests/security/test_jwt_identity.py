"""Issue 19 item 11: a JWT's caller is its issuer and subject.

Before, every token without `sub` became the one caller "jwt": two users shared
idempotency keys (B's retry returned A's record, or `IDEMPOTENCY_KEY_REUSED`). The
refusals that already held (alg=none, HS256 signed with the public key, expired, wrong
audience or issuer) are kept here too."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.conftest import request_counts
from tests.test_access import JwksServer

SECRET = "hs256-edge-secret-with-enough-length!"
AUDIENCE = "invoice-gateway"
CREATE = """mutation($input: CreateCustomerInput!) {
  createCustomer(input: $input) { customer { id } userErrors { code } } }"""


def token(key: Any = SECRET, algorithm: str = "HS256", headers: dict[str, Any] | None = None,
          **claims: Any) -> str:
    now = int(time.time())
    payload = {"aud": AUDIENCE, "iat": now, "exp": now + 300, "invoice_sources": ["erp"],
               "scope": "invoices:write", **claims}
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, key,
                      algorithm=algorithm, headers=headers)


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def upstream_calls(simulators) -> int:
    return sum(sum(counts.values()) for counts in request_counts(simulators).values())


async def assert_refused(gateway, credential: str, reason: str) -> None:
    response = await gateway.http.post("/graphql", json={"query": "{ sources { name } }"},
                                       headers=bearer(credential))
    assert response.status_code == 401, response.text
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert reason.lower() in error["message"].lower()
    assert credential not in response.text


async def test_a_token_naming_no_caller_is_refused(make_gateway, simulators):
    gateway = await make_gateway(top={"jwt": {"secret": SECRET, "audience": AUDIENCE}})
    before = upstream_calls(simulators)
    await assert_refused(gateway, token(), "no 'sub' claim")
    await assert_refused(gateway, token(sub=""), "no 'sub' claim")
    assert upstream_calls(simulators) == before


async def test_subject_claim_names_the_caller_claim(make_gateway):
    gateway = await make_gateway(top={"jwt": {"secret": SECRET, "audience": AUDIENCE,
                                              "subject_claim": "client_id"}})
    served = await gateway.data("{ sources { name } }", headers=bearer(token(client_id="svc-1")))
    assert served["sources"] == [{"name": "erp"}]
    await assert_refused(gateway, token(sub="user-7"), "no 'client_id' claim")


@pytest.mark.parametrize(("a", "b"), [
    ({"sub": "alice"}, {"sub": "bob"}),
    ({"sub": "alice", "iss": "https://idp-a.test/"}, {"sub": "alice", "iss": "https://idp-b.test/"}),
])
async def test_two_callers_never_share_idempotency_keys(make_gateway, fresh_simulators, a, b):
    gateway = await make_gateway(top={"jwt": {"secret": SECRET, "audience": AUDIENCE}})
    input = {"source": "erp", "name": "Keyed Customer", "idempotencyKey": "same-key"}
    first = await gateway.data(CREATE, {"input": input}, headers=bearer(token(**a)))
    other = await gateway.data(CREATE, {"input": {**input, "name": "Another Customer"}},
                               headers=bearer(token(**b)))
    assert other["createCustomer"]["userErrors"] == [], "B is not refused A's key"
    assert other["createCustomer"]["customer"]["id"] != first["createCustomer"]["customer"]["id"]
    retry = await gateway.data(CREATE, {"input": input}, headers=bearer(token(**a)))
    assert retry == first, "A's retry still returns A's record"


async def test_forged_tokens_stay_refused(make_gateway, simulators):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    server = JwksServer({"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]})
    try:
        issuer = "https://idp.test/"
        gateway = await make_gateway(top={"jwt": {"jwks_url": server.url, "issuer": issuer,
                                                  "audience": AUDIENCE}})
        claims = {"sub": "user-7", "iss": issuer}
        good = token(key, "RS256", {"kid": "k1"}, **claims)
        assert (await gateway.data("{ sources { name } }", headers=bearer(good)))["sources"]
        before = upstream_calls(simulators)
        unsigned = token(None, "none", {"kid": "k1"}, **claims)
        await assert_refused(gateway, unsigned, "invalid token")
        pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
        confused = _hs256_with(pem, {"kid": "k1", "alg": "HS256"}, claims)
        await assert_refused(gateway, confused, "invalid token")
        await assert_refused(gateway, token(key, "RS256", {"kid": "k1"}, **claims,
                                            exp=int(time.time()) - 600), "expired")
        await assert_refused(gateway, token(key, "RS256", {"kid": "k1"}, sub="user-7",
                                            iss="https://evil.test/"), "issuer")
        await assert_refused(gateway, token(key, "RS256", {"kid": "k1"}, **claims, aud="else"),
                             "audience")
        assert upstream_calls(simulators) == before
    finally:
        server.server.shutdown()


def _hs256_with(secret: bytes, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """An HS256 token keyed with the public key's PEM (the algorithm confusion attack),
    signed by hand: PyJWT itself refuses to use a PEM as an HMAC key."""
    import base64
    import hashlib
    import hmac

    def part(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    now = int(time.time())
    body = {"aud": AUDIENCE, "iat": now, "exp": now + 300, "invoice_sources": ["erp"], **claims}
    signing_input = part(json.dumps(header).encode()) + b"." + part(json.dumps(body).encode())
    signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + part(signature)).decode()
