"""Relations through the per-request loaders, and the N+1 guard measured by the simulators."""

from __future__ import annotations

from decimal import Decimal

from tests.conftest import request_counts, zero_counts

N_PLUS_ONE = """
query($sources: [String!]) {
  invoices(first: 50, filter: {sources: $sources}) {
    nodes {
      id number total { amount currency } amountDue { amount }
      customer { id name email }
      vendor { id name }
      payments { id amount { amount } }
      lineItems { description quantity total { amount } }
    }
  }
}"""


async def test_n_plus_one_guard(gateway, simulators):
    """50 invoices with customer, vendor, payments and lines cost a bounded few upstream calls
    per source (the table in docs/upstream-calls.md), never one per invoice."""
    limits = {"erp": ("makini", 6), "billing": ("invoicematic", 2), "cloud": ("cloudbilling", 2)}
    for source, (kind, limit) in limits.items():
        zero_counts(simulators)
        data = await gateway.data(N_PLUS_ONE, {"sources": [source]})
        nodes = data["invoices"]["nodes"]
        assert len(nodes) == 50
        routes = request_counts(simulators)[kind]
        calls = sum(routes.values())
        assert calls <= limit, (source, routes)
        assert all(count == 1 for count in routes.values()), f"a route read twice: {routes}"
        others = {k: v for k, v in request_counts(simulators).items() if k != kind}
        assert not any(others.values()), others


async def test_invoice_relations(gateway):
    data = await gateway.data("""{
      billing: invoices(first: 100, filter: {sources: ["billing"], status: [PARTIALLY_PAID]}) {
        nodes { total { amount } amountDue { amount }
                customer { id name invoices(first: 100) { nodes { id } } }
                payments { amount { amount } invoice { id } customer { id } } id } }
      erp: invoices(first: 20, filter: {sources: ["erp"], type: PAYABLE}) {
        nodes { id vendor { id name invoices(first: 100) { nodes { id } } } } }
    }""")
    partially = data["billing"]["nodes"]
    assert partially
    for invoice in partially:
        paid = sum(Decimal(p["amount"]["amount"]) for p in invoice["payments"])
        assert paid == Decimal(invoice["total"]["amount"]) - Decimal(invoice["amountDue"]["amount"])
        assert paid > 0
        for payment in invoice["payments"]:
            assert payment["invoice"]["id"] == invoice["id"]
            assert payment["customer"]["id"] == invoice["customer"]["id"]
        assert invoice["id"] in [n["id"] for n in invoice["customer"]["invoices"]["nodes"]]
    with_vendor = [invoice for invoice in data["erp"]["nodes"] if invoice["vendor"]]
    assert len(with_vendor) >= 10  # a bill may carry only a poKey
    for invoice in with_vendor:
        assert invoice["id"] in [n["id"] for n in invoice["vendor"]["invoices"]["nodes"]]


async def test_line_items_and_grouped_invoices(gateway, simulators):
    sim = simulators.running["makershub"].simulator
    group_id = sim.group_ids()[0]
    data = await gateway.data(
        """query($r: String) { invoice(source: "ap", remoteId: $r) {
             total { amount } vendor { name }
             groupedInvoices { id remoteId total { amount } lineItems { description } } } }""",
        {"r": str(group_id)},
    )
    group = data["invoice"]
    children = group["groupedInvoices"]
    assert len(children) >= 2
    assert sum(Decimal(c["total"]["amount"]) for c in children) == Decimal(group["total"]["amount"])
    assert all(c["lineItems"] for c in children)
    child = await gateway.data(
        'query($r: String) { invoice(source: "ap", remoteId: $r) { remoteId groupedInvoices { id } } }',
        {"r": children[0]["remoteId"]},
    )
    assert child["invoice"]["groupedInvoices"] == []

    cloud = await gateway.data("""{ invoices(first: 5, filter: {sources: ["cloud"]}) {
        nodes { subtotal { amount } lineItems { quantity unitPrice { amount } taxRate total { amount } } } } }""")
    for invoice in cloud["invoices"]["nodes"]:
        assert invoice["lineItems"], "cloud billing invoices carry their lines"


async def test_nodes_mixes_found_and_missing(gateway, simulators):
    data = await gateway.data("{ invoices(first: 2) { nodes { id } } customers(first: 1) { nodes { id } } }")
    ids = [n["id"] for n in data["invoices"]["nodes"]] + [data["customers"]["nodes"][0]["id"]]
    from gateway.domain.ids import encode_id

    missing = encode_id("Invoice", "billing", simulators.running["invoicematic"].simulator.missing_id("invoices"))
    body = await gateway.query(
        "query($ids: [ID!]!) { nodes(ids: $ids) { id __typename } }", {"ids": [*ids, missing]}
    )
    nodes = body["data"]["nodes"]
    assert [n["id"] for n in nodes[:3]] == ids
    assert nodes[2]["__typename"] == "Customer"
    assert nodes[3] is None
    (error,) = body["errors"]
    assert error["path"] == ["nodes", 3]
    assert error["extensions"]["code"] == "UPSTREAM_NOT_FOUND"
    assert error["extensions"]["source"] == "billing"
    assert error["extensions"]["status"] == 404
