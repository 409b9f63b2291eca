"""Root query lookups (`resolvers.queries`): `invoice` by id or by source and remote id,
`customer`/`vendor`/`payment`, `node` and `nodes`, and the errors for ids that name nothing,
the wrong type, an unknown or a forbidden source. Run through the schema
(`schema.execute`) with a real context over the simulators.

Elsewhere: `node` round trips for every source and the other bad-input messages
(tests/test_gateway_lists.py), `sources` (tests/test_gateway_lists.py and
tests/test_writes.py), per-client scoping over HTTP (tests/test_access.py), filters
(tests/test_selection.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from gateway.adapters import Adapter
from gateway.domain.identity import Identity
from gateway.domain.ids import encode_id
from resolvers.context import Context
from resolvers.schema import schema


@pytest.fixture
def adapters(make_adapter) -> dict[str, Adapter]:
    made = [make_adapter(kind) for kind in ("makini", "invoicematic", "cloudbilling")]
    return {adapter.name: adapter for adapter in made}  # erp, billing, cloud


async def run(adapters, query: str, variables: dict[str, Any] | None = None,
              identity: Identity | None = None) -> tuple[dict[str, Any] | None, list[Any]]:
    result = await schema.execute(query, variables,
                                  context_value=Context(adapters, identity=identity))
    return result.data, [
        {"message": e.message, "path": e.path, **(e.extensions or {})}
        for e in result.errors or []
    ]


async def first_of(adapters, field: str, source: str) -> dict[str, Any]:
    where = f'filter: {{sources: ["{source}"]}}' if field == "invoices" else f'sources: ["{source}"]'
    data, errors = await run(
        adapters, f"{{ {field}(first: 1, {where}) {{ nodes {{ id remoteId }} }} }}")
    assert not errors, errors
    assert data is not None
    node: dict[str, Any] = data[field]["nodes"][0]
    return node


async def test_an_invoice_by_id_or_by_source_and_remote_id_is_the_same(adapters, simulators):
    remote_id = simulators.running["invoicematic"].simulator.remote_ids("invoices")[0]
    data, errors = await run(adapters, """query($s: String, $r: String, $id: ID) {
        bySource: invoice(source: $s, remoteId: $r) { id number }
        byId: invoice(id: $id) { id number } }""",
        {"s": "billing", "r": remote_id, "id": encode_id("Invoice", "billing", remote_id)})
    assert not errors and data is not None
    assert data["bySource"] == data["byId"] and data["byId"]["number"]


@pytest.mark.parametrize(("arguments", "message"), [
    ('id: "SW52b2ljZTpiaWxsaW5nOjE", source: "billing"',
     "give either 'id' or 'source' and 'remoteId', not both"),
    ('source: "billing"', "give either 'id' or both 'source' and 'remoteId'"),
    ('remoteId: "1"', "give either 'id' or both 'source' and 'remoteId'"),
])
async def test_an_invoice_needs_one_way_of_naming_it(adapters, arguments, message):
    data, errors = await run(adapters, f"{{ invoice({arguments}) {{ id }} }}")
    assert data == {"invoice": None}
    assert errors == [{"message": message, "path": ["invoice"], "code": "BAD_USER_INPUT"}]


async def test_an_id_that_names_no_record_is_null_with_a_clear_error(adapters):
    missing = encode_id("Invoice", "cloud", "00000000-0000-4000-8000-000000000000")
    data, errors = await run(adapters, "query($id: ID!) { node(id: $id) { id } }",
                             {"id": missing})
    assert data == {"node": None}
    (error,) = errors
    assert error["code"] == "UPSTREAM_NOT_FOUND" and error["source"] == "cloud"
    assert error["path"] == ["node"]


@pytest.mark.parametrize(("field", "source"), [("customer", "billing"), ("vendor", "erp"),
                                                ("payment", "billing")])
async def test_each_lookup_finds_its_type_and_refuses_another(adapters, field, source):
    listed = await first_of(adapters, field + "s", source)
    data, errors = await run(
        adapters, f"query($id: ID!) {{ {field}(id: $id) {{ id remoteId }} "
        "node(id: $id) { __typename id } }", {"id": listed["id"]})
    assert not errors, errors
    assert data == {field: listed, "node": {"__typename": field.capitalize(), "id": listed["id"]}}

    invoice = encode_id("Invoice", source, "1")
    data, errors = await run(adapters, f"query($id: ID!) {{ {field}(id: $id) {{ id }} }}",
                             {"id": invoice})
    assert data == {field: None}
    (error,) = errors
    assert error["code"] == "BAD_USER_INPUT"
    assert f"is the id of a Invoice, not of a {field.capitalize()}" in error["message"]


async def test_nodes_keeps_order_and_nulls_only_what_cannot_be_read(adapters):
    customer = await first_of(adapters, "customers", "cloud")
    invoice = await first_of(adapters, "invoices", "erp")
    missing = encode_id("Invoice", "cloud", "00000000-0000-4000-8000-000000000000")
    data, errors = await run(
        adapters, "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }",
        {"ids": [invoice["id"], missing, customer["id"]]})
    assert data == {"nodes": [{"__typename": "Invoice", "id": invoice["id"]}, None,
                              {"__typename": "Customer", "id": customer["id"]}]}
    (error,) = errors
    assert error["path"] == ["nodes", 1] and error["code"] == "UPSTREAM_NOT_FOUND"


async def test_nodes_of_a_forbidden_source_are_null_and_forbidden(adapters):
    customer = await first_of(adapters, "customers", "cloud")
    invoice = await first_of(adapters, "invoices", "erp")
    finance = Identity("finance", frozenset({"erp", "billing"}), frozenset())
    data, errors = await run(
        adapters, "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
        {"ids": [invoice["id"], customer["id"]]}, identity=finance)
    assert data == {"nodes": [{"id": invoice["id"]}, None]}
    (error,) = errors
    assert error["path"] == ["nodes", 1] and error["code"] == "FORBIDDEN"
    assert "'cloud'" in error["message"]
    data, errors = await run(adapters, "query($id: ID!) { customer(id: $id) { id } }",
                             {"id": customer["id"]}, identity=finance)
    assert data == {"customer": None} and errors[0]["code"] == "FORBIDDEN"


@pytest.mark.parametrize("field", ["customers", "vendors", "payments"])
async def test_list_sources_unknown_or_forbidden_are_named(adapters, field):
    data, errors = await run(adapters, f'{{ {field}(sources: ["nope"]) {{ nodes {{ id }} }} }}')
    assert data is None or data == {field: None}
    (error,) = errors
    assert error["code"] == "BAD_USER_INPUT"
    assert error["message"] == "unknown source 'nope'; configured: erp, billing, cloud"

    erp_only = Identity("erp-only", frozenset({"erp"}), frozenset())
    data, errors = await run(adapters, f'{{ {field}(sources: ["billing"]) {{ nodes {{ id }} }} }}',
                             identity=erp_only)
    (error,) = errors
    assert error["code"] == "FORBIDDEN" and "'billing'" in error["message"]


async def test_nodes_answers_the_good_ids_beside_one_that_is_not_an_id(adapters):
    # The schema promises null at the place of an id that cannot be resolved: an id that
    # does not decode, or names a source that is not configured, is one of those; it must
    # not void the ids beside it (it did: the whole `nodes` answered null).
    invoice = await first_of(adapters, "invoices", "erp")
    unknown_source = encode_id("Invoice", "nowhere", "1")
    data, errors = await run(
        adapters, "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
        {"ids": ["not-an-id", invoice["id"], unknown_source]})
    assert data == {"nodes": [None, {"id": invoice["id"]}, None]}
    assert sorted((tuple(e["path"]), e["code"]) for e in errors) == [
        (("nodes", 0), "BAD_USER_INPUT"), (("nodes", 2), "BAD_USER_INPUT")]
    assert any("nowhere" in e["message"] for e in errors)
