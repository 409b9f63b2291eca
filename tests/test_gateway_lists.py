"""End to end through the ASGI app: paging completeness, order, filters, node round trips."""

from __future__ import annotations

import pytest

from gateway.adapters import Capability
from gateway.registry import KINDS

DEMO_NAMES = KINDS.demo_names()  # kind -> its source's name in the demo

# MakersHub lists its index of seen ids, empty in a fresh gateway (test_makershub_index.py).
LISTABLE = [kind for kind in DEMO_NAMES
            if Capability.LIST_INVOICES in KINDS[kind].capabilities and kind != "makershub"]

PAGE = """
query($first: Int, $after: String, $filter: InvoiceFilter) {
  invoices(first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id source remoteId status type issueDate
                          customer { id } vendor { id } } }
  }
}"""


async def page_through(gateway, first, filter=None):
    nodes, after, pages = [], None, 0
    while True:
        data = await gateway.data(PAGE, {"first": first, "after": after, "filter": filter})
        connection = data["invoices"]
        nodes += [edge["node"] for edge in connection["edges"]]
        pages += 1
        if not connection["pageInfo"]["hasNextPage"]:
            return nodes, pages, connection["totalCount"]
        after = connection["pageInfo"]["endCursor"]
        assert pages < 500


async def test_paging_returns_every_invoice_exactly_once_in_stable_order(gateway, simulators):
    nodes, pages, total = await page_through(gateway, 37)
    keys = [(node["source"], node["remoteId"]) for node in nodes]
    assert len(keys) == len(set(keys)), "no invoice twice"
    expected = {
        (DEMO_NAMES[kind], remote_id)
        for kind in LISTABLE
        for remote_id in simulators.running[kind].simulator.remote_ids("invoices")
    }
    assert set(keys) == expected, "every invoice of every listable source"
    assert total == len(expected)
    assert pages == -(-len(expected) // 37)
    # sources in configuration order, each contiguous
    order = [DEMO_NAMES[kind] for kind in DEMO_NAMES if kind in LISTABLE]
    seen = [source for i, (source, _) in enumerate(keys) if i == 0 or keys[i - 1][0] != source]
    assert seen == order
    again, _, _ = await page_through(gateway, 100)
    assert [(n["source"], n["remoteId"]) for n in again] == keys, "same order at any page size"


async def test_filters_match_local_filtering(gateway):
    everything, _, _ = await page_through(gateway, 500)
    by_status = [n for n in everything if n["status"] in ("PAID", "PARTIALLY_PAID")]
    assert by_status
    cases = [
        ({"status": ["PAID", "PARTIALLY_PAID"]}, by_status),
        ({"type": "PAYABLE"}, [n for n in everything if n["type"] == "PAYABLE"]),
        ({"sources": ["cloud", "erp"]}, [n for n in everything if n["source"] in ("cloud", "erp")]),
        ({"issuedFrom": "2026-01-01", "issuedTo": "2026-06-30"},
         [n for n in everything if n["issueDate"] and "2026-01-01" <= n["issueDate"] <= "2026-06-30"]),
    ]
    customer = next(n["customer"]["id"] for n in everything if n["customer"] and n["source"] == "billing")
    cases.append(({"customerId": customer},
                  [n for n in everything if n["customer"] and n["customer"]["id"] == customer]))
    vendor = next(n["vendor"]["id"] for n in everything if n["vendor"] and n["source"] == "erp")
    cases.append(({"vendorId": vendor},
                  [n for n in everything if n["vendor"] and n["vendor"]["id"] == vendor]))
    for filter, expected in cases:
        got, _, total = await page_through(gateway, 25, filter)
        assert [n["id"] for n in got] == [n["id"] for n in expected], filter
        assert expected, filter
        assert total in (None, len(expected)), filter


async def test_node_round_trip_for_every_source(gateway, simulators):
    for kind, name in DEMO_NAMES.items():
        remote_id = simulators.running[kind].simulator.remote_ids("invoices")[0]
        data = await gateway.data(
            "query($s: String, $r: String) { invoice(source: $s, remoteId: $r) { id remoteId source } }",
            {"s": name, "r": remote_id},
        )
        invoice = data["invoice"]
        assert (invoice["source"], invoice["remoteId"]) == (name, remote_id)
        node = await gateway.data(
            "query($id: ID!) { node(id: $id) { id ... on Invoice { remoteId source } } }",
            {"id": invoice["id"]},
        )
        assert node["node"] == invoice
        by_id = await gateway.data(
            "query($id: ID) { invoice(id: $id) { id } }", {"id": invoice["id"]}
        )
        assert by_id["invoice"]["id"] == invoice["id"]


async def test_other_connections_page_completely(gateway, simulators):
    for field, resource, capability in [
        ("customers", "customers", Capability.LIST_CUSTOMERS),
        ("vendors", "vendors", Capability.LIST_VENDORS),
        ("payments", "payments", Capability.LIST_PAYMENTS),
    ]:
        kinds = [kind for kind in KINDS if capability in KINDS[kind].capabilities]
        keys, after = [], None
        while True:
            data = await gateway.data(
                f"query($a: String) {{ {field}(first: 40, after: $a) {{ totalCount "
                "pageInfo { hasNextPage endCursor } nodes { id source remoteId } } }",
                {"a": after},
            )
            connection = data[field]
            keys += [(n["source"], n["remoteId"]) for n in connection["nodes"]]
            if not connection["pageInfo"]["hasNextPage"]:
                break
            after = connection["pageInfo"]["endCursor"]
        expected = {
            (DEMO_NAMES[kind], rid)
            for kind in kinds
            for rid in simulators.running[kind].simulator.remote_ids(resource)
        }
        assert len(keys) == len(set(keys)), field
        assert set(keys) == expected, field


async def test_sources_lists_configuration(gateway):
    data = await gateway.data("{ sources { name kind capabilities healthy } }")
    assert [s["name"] for s in data["sources"]] == list(DEMO_NAMES.values())
    assert all(s["healthy"] for s in data["sources"])
    ap = data["sources"][0]
    assert ap["kind"] == "makershub" and "invoices.list" in ap["capabilities"]
    assert {"invoices.get", "webhooks.receive"} <= set(ap["capabilities"])


@pytest.mark.parametrize(
    ("query", "variables", "fragment"),
    [
        ("query($a: String) { invoices(after: $a) { nodes { id } } }", {"a": "bm9wZQ"},
         "is not a valid cursor"),
        ("query($a: String) { invoices(after: $a) { nodes { id } } }",
         {"a": "YzF8ZXJwfDEwfGRlYWRiZWVmMDA"}, "belongs to a different list"),
        ("{ invoices(first: -1) { nodes { id } } }", None, "'first' must be between 0 and 500"),
        ('{ invoice(id: "garbage") { id } }', None, "is not a valid id"),
        ('{ node(id: "SW52b2ljZTpub3BlOjE") { id } }', None, "unknown source 'nope'"),
        ("{ invoice { id } }", None, "give either 'id' or both 'source' and 'remoteId'"),
        ('{ invoices(filter: {sources: ["nope"]}) { nodes { id } } }', None,
         "unknown source 'nope'; configured: ap, erp, billing, cloud"),
        ('{ invoices(filter: {issuedFrom: "2026-02-01", issuedTo: "2026-01-01"}) { nodes { id } } }',
         None, "issuedFrom is after filter.issuedTo"),
    ],
)
async def test_bad_input_gets_a_clear_error(gateway, query, variables, fragment):
    body = await gateway.query(query, variables)
    errors = body["errors"]
    assert len(errors) == 1
    assert fragment in errors[0]["message"]
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "Traceback" not in str(body)


async def test_customer_id_given_as_invoice_id_is_refused(gateway):
    data = await gateway.data("{ invoices(first: 1) { nodes { id } } }")
    invoice_id = data["invoices"]["nodes"][0]["id"]
    body = await gateway.query(
        "query($c: ID) { invoices(filter: {customerId: $c}) { nodes { id } } }", {"c": invoice_id}
    )
    assert "is the id of a Invoice, not of a Customer" in body["errors"][0]["message"]


async def test_malformed_query_is_a_parse_error(gateway):
    body = await gateway.query("{ invoices(first: 2 { nodes { id } }")
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    body = await gateway.query("{ invoices { nope } }")
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "nope" in body["errors"][0]["message"]


async def test_a_malformed_scalar_literal_is_a_validation_error(gateway):
    # Found by the fuzz run: the Date scalar's parse error was masked as an internal error.
    body = await gateway.query('{ invoices(filter: {issuedFrom: "not-a-date"}) { nodes { id } } }')
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "not-a-date" in error["message"]
