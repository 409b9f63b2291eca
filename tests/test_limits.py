"""Operation limits: every bomb is refused with OPERATION_LIMIT naming the limit, before
any upstream request (the simulators' counters stay at zero)."""

from __future__ import annotations

import pytest

from tests.conftest import request_counts, zero_counts

NESTED = "customer { invoices(first: 500) { nodes { customer { invoices(first: 500) { nodes { id } } } } } }"


def depth_bomb(levels: int) -> str:
    inner = "id"
    for _ in range(levels):
        inner = f"customer {{ invoices(first: 1) {{ nodes {{ {inner} }} }} }}"
    return f"{{ invoices(first: 1) {{ nodes {{ {inner} }} }} }}"


BOMBS = [
    (depth_bomb(5), "max_depth"),
    ("{ " + " ".join(f"a{i}: sources {{ name }}" for i in range(60)) + " }", "max_aliases"),
    ("{ " + " ".join(f"a{i}: __typename" for i in range(60)) + " }", "max_aliases"),
    ("{ invoices(first: 500) { nodes { " + NESTED + " } } }", "max_cost"),
    ("{ invoices(first: 501) { nodes { id } } }", "max_first"),
    ("{ " + "sources { name } " * 1500 + "}", "max_tokens"),
    # fragments do not hide depth or aliases
    ("fragment F on Invoice { customer { invoices(first: 1) { nodes { customer { invoices(first: 1) "
     "{ nodes { customer { invoices(first: 1) { nodes { customer { name } } } } } } } } } } }"
     "{ invoices(first: 1) { nodes { ...F } } }", "max_depth"),
    ("fragment S on Source { " + " ".join(f"n{i}: name" for i in range(30)) + " }"
     " { sources { ...S } other: sources { ...S } }", "max_aliases"),
]


async def assert_refused(gateway, simulators, query: str, limit: str, variables=None) -> None:
    zero_counts(simulators)
    body = await gateway.query(query, variables)
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "OPERATION_LIMIT", "limit": limit}, error
    assert all(not routes for routes in request_counts(simulators).values()), "no upstream call"


@pytest.mark.parametrize(("query", "limit"), BOMBS)
async def test_bombs_are_refused_before_any_upstream_request(gateway, simulators, query, limit):
    await assert_refused(gateway, simulators, query, limit)


async def test_cost_counts_variables_and_defaults(gateway, simulators):
    query = """query($n: Int = 200) { invoices(first: $n) { nodes {
        customer { invoices(first: $n) { nodes { id } } } } } }"""
    await assert_refused(gateway, simulators, query, "max_cost")
    await assert_refused(gateway, simulators, query, "max_cost", {"n": 300})
    body = await gateway.query(query, {"n": 3})
    assert "errors" not in body


async def test_limits_are_configurable(make_gateway, simulators):
    gateway = await make_gateway(top={"limits": {"max_depth": 3, "introspection": False,
                                                    "max_first": 10}})
    await assert_refused(gateway, simulators, "{ invoices(first: 1) { nodes { customer { name } } } }",
                         "max_depth")
    await assert_refused(gateway, simulators, "{ __schema { types { name } } }", "introspection")
    await assert_refused(gateway, simulators, '{ __type(name: "Invoice") { name } }',
                         "introspection")
    await assert_refused(gateway, simulators, "{ invoices(first: 11) { nodes { id } } }",
                         "max_first")
    assert (await gateway.data("{ sources { __typename name } }"))["sources"]


async def test_oversized_body_is_refused_with_413(make_gateway, simulators):
    gateway = await make_gateway(top={"limits": {"max_body_bytes": 2000}})
    zero_counts(simulators)
    padding = "x" * 3000
    response = await gateway.http.post(
        "/graphql", json={"query": "{ invoices { nodes { id } } }", "variables": {"p": padding}})
    assert response.status_code == 413
    (error,) = response.json()["errors"]
    assert error["extensions"] == {"code": "OPERATION_LIMIT", "limit": "max_body_bytes"}
    assert all(not routes for routes in request_counts(simulators).values())
    ok = await gateway.http.post("/graphql", json={"query": "{ sources { name } }"})
    assert ok.status_code == 200


async def test_graphiql_introspection_still_works_by_default(gateway):
    from graphql import get_introspection_query

    body = await gateway.query(get_introspection_query())
    assert "errors" not in body
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"
