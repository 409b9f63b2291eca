"""Issue 19, items 2-5 and the response ceiling: cost limits over the whole document.

Each bomb is refused with OPERATION_LIMIT before any upstream request; GraphiQL's own
introspection query keeps passing; an answer larger than `max_response_bytes` is replaced
by one coded error; and the two cost bombs of the issue leave a gateway process's memory
where it was.
"""

from __future__ import annotations

import httpx
from graphql import (
    GraphQLInterfaceType,
    GraphQLObjectType,
    get_introspection_query,
    get_named_type,
    get_nullable_type,
    is_leaf_type,
    is_list_type,
)

from gateway.domain.ids import encode_id
from resolvers.schema import schema
from tests.conftest import request_counts, zero_counts
from tests.security.hostile import rss_bytes
from tests.tools import GatewayProcess

# Item 2: 199 aliased `types` inside `__schema` (the limits used to stop at any `__` field).
INTROSPECTION_BOMB = "{ __schema { " + " ".join(
    f"t{i}: types {{ description fields {{ name description args {{ name description "
    f"type {{ name kind ofType {{ name }} }} }} }} }}" for i in range(199)) + " } }"
# Within max_aliases: refused for its cost alone.
INTROSPECTION_COST_BOMB = "{ __schema { " + " ".join(
    f"t{i}: types {{ fields {{ args {{ name }} }} }}" for i in range(40)) + " } }"
# Item 3: 50 aliases of 500 invoices, each with its payments' invoices' lines: the lists
# without `first` used to count nothing (estimate exactly 25,000 = max_cost).
LIST_BOMB = "{ " + " ".join(
    f"a{i}: invoices(first: 500) {{ nodes {{ number payments {{ invoice {{ lineItems "
    f"{{ description }} }} }} }} }}" for i in range(50)) + " }"
# Item 4: a float `first` (graphql-core coerces 500.0 to the Int 500).
FLOAT_FIRST = """query($f: Int) { invoices(first: $f) { nodes {
    customer { invoices(first: $f) { nodes { number } } } } } }"""


async def assert_refused(gateway, simulators, query: str, limit: str, variables=None) -> dict:
    zero_counts(simulators)
    body = await gateway.query(query, variables)
    assert body["data"] is None, "refused before execution"
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "OPERATION_LIMIT", "limit": limit}, error
    assert all(not routes for routes in request_counts(simulators).values()), "no upstream call"
    return error


async def test_introspection_is_held_to_its_own_budget(gateway, simulators):
    await assert_refused(gateway, simulators, INTROSPECTION_BOMB, "introspection_max_cost")
    error = await assert_refused(gateway, simulators, INTROSPECTION_COST_BOMB,
                                 "introspection_max_cost")
    assert "introspection_max_cost (50000)" in error["message"]
    deep = "ofType { " * 25 + "name" + " }" * 25
    await assert_refused(gateway, simulators, f'{{ __type(name: "Invoice") {{ {deep} }} }}',
                         "introspection_max_depth")
    # `__type` nested in an ordinary field is held to the same budget, not skipped.
    await assert_refused(gateway, simulators, "{ sources { name } " + " ".join(
        f't{i}: __type(name: "Invoice") {{ fields {{ args {{ type {{ fields {{ name }} }} }} }} }}'
        for i in range(40)) + " }", "introspection_max_cost")


async def test_graphiql_introspection_passes_with_every_option(gateway):
    query = get_introspection_query(
        descriptions=True, specified_by_url=True, directive_is_repeatable=True,
        schema_description=True, input_value_deprecation=True)
    body = await gateway.query(query)
    assert "errors" not in body, body.get("errors")
    assert len(body["data"]["__schema"]["types"]) > 50


async def test_lists_without_first_count_their_declared_size(gateway, simulators):
    error = await assert_refused(gateway, simulators, LIST_BOMB, "max_cost")
    assert "max_cost (25000)" in error["message"]
    # one such chain is fine
    chain = "{ invoices(first: 20) { nodes { payments { invoice { lineItems { description } } } } } }"
    assert (await gateway.data(chain))["invoices"]["nodes"]


async def test_float_first_counts_as_its_integer(gateway, simulators):
    await assert_refused(gateway, simulators, FLOAT_FIRST, "max_cost", {"f": 500})
    await assert_refused(gateway, simulators, FLOAT_FIRST, "max_cost", {"f": 500.0})
    body = await gateway.query(FLOAT_FIRST, {"f": 2.0})
    assert "errors" not in body, body.get("errors")


async def test_entities_and_nodes_are_counted_and_held_to_max_first(gateway, simulators):
    many = [{"__typename": "Invoice", "id": encode_id("Invoice", "ap", str(n))}
            for n in range(1, 602)]
    entities = "query($r: [_Any!]!) { _entities(representations: $r) { __typename } }"
    error = await assert_refused(gateway, simulators, entities, "max_first", {"r": many})
    assert "representations" in error["message"] and "601" in error["message"]
    nodes = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }"
    await assert_refused(gateway, simulators, nodes, "max_first",
                         {"ids": [item["id"] for item in many]})
    # 100 entities each with 300 line-item-sized lists: counted by their length
    costly = ("query($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { "
              "invoices(first: 300) { nodes { id } } } } }")
    await assert_refused(gateway, simulators, costly, "max_cost", {"r": many[:100]})


def test_every_list_of_objects_has_a_declared_size():
    """A new list field must say how long it typically is (LIST_SIZES), else it would
    silently count as a default page."""
    from resolvers.limits import CONNECTION_LISTS, LIST_SIZES, SIZED_BY_ARGUMENT

    undeclared = []
    for type_name, graphql_type in schema._schema.type_map.items():
        if type_name.startswith("__") or not isinstance(
                graphql_type, GraphQLObjectType | GraphQLInterfaceType):
            continue
        for name, field in graphql_type.fields.items():
            key = f"{type_name}.{name}"
            if (not is_list_type(get_nullable_type(field.type))
                    or is_leaf_type(get_named_type(field.type)) or "first" in field.args
                    or key in SIZED_BY_ARGUMENT or key in LIST_SIZES or name in LIST_SIZES
                    or (name in CONNECTION_LISTS and type_name.endswith("Connection"))):
                continue
            undeclared.append(key)
    assert not undeclared


async def test_an_answer_over_max_response_bytes_is_replaced_by_a_coded_error(make_gateway):
    gateway = await make_gateway(top={"limits": {"max_response_bytes": 20_000}})
    response = await gateway.http.post("/graphql", json={
        "query": "{ invoices(first: 200) { nodes { id number remoteData } } }"})
    assert response.status_code == 200
    assert len(response.content) < 1000
    assert int(response.headers["content-length"]) == len(response.content)
    body = response.json()
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "RESPONSE_TOO_LARGE", "limit": "max_response_bytes"}
    assert "max_response_bytes (20000)" in error["message"]
    assert (await gateway.data("{ invoices(first: 2) { nodes { id } } }"))["invoices"]


def test_cost_bombs_leave_the_gateway_process_memory_where_it_was(simulators, tmp_path):
    gateway = GatewayProcess({"sources": simulators.source_blocks()}, tmp_path).start()
    try:
        assert gateway.proc is not None
        with httpx.Client(base_url=gateway.url, timeout=60) as http:
            def ask(query: str) -> dict:
                response = http.post("/graphql", json={"query": query})
                assert response.status_code == 200, response.text
                return response.json()

            # warm: the schema, introspection and a list are each served once
            assert "errors" not in ask(get_introspection_query(descriptions=True))
            assert "errors" not in ask("{ invoices(first: 50) { nodes { number } } }")
            before = rss_bytes(gateway.proc.pid)
            for _ in range(3):
                for bomb in (INTROSPECTION_BOMB, INTROSPECTION_COST_BOMB, LIST_BOMB):
                    (error,) = ask(bomb)["errors"]
                    assert error["extensions"]["code"] == "OPERATION_LIMIT"
            grown = rss_bytes(gateway.proc.pid) - before
        assert grown < 20 * 2**20, f"RSS grew by {grown / 2**20:.1f} MiB"
    finally:
        gateway.stop()
