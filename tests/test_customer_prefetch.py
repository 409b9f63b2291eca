"""An invoice page's customers: answered from the page where the invoices embed every field
asked for, else read alongside the page where one read gives them all."""

from __future__ import annotations

from tests.conftest import request_counts, sim_control, zero_counts
from tests.writing import written

# `phone` is not in Invoicematic's embedded customer {id, name, email}: the customers are read
WITH_CUSTOMERS = """{ invoices(first: 2, filter: {sources: ["billing"]}) {
  edges { node { number customer { remoteId name phone } } } } }"""
EMBEDDED = """{ invoices(first: 20, filter: {sources: ["billing"]}) { nodes {
  number customer { __typename id source remoteId name email } } } }"""
BY_ID = """query($id: ID!) { node(id: $id) { ... on Customer { __typename id source remoteId name
  email } } }"""


async def test_customer_fields_the_invoices_embed_cost_no_customer_read(gateway, simulators):
    zero_counts(simulators)
    data = await gateway.data(EMBEDDED)
    assert request_counts(simulators)["invoicematic"] == {"GET /api/invoices": 1}
    # ...and are the customer resource's own values
    for node in data["invoices"]["nodes"][:5]:
        customer = node["customer"]
        assert (await gateway.data(BY_ID, {"id": customer["id"]}))["node"] == customer


async def test_a_field_the_invoices_do_not_embed_reads_the_customers(gateway, simulators):
    fragment = "fragment more on Customer { email phone }"
    for selection, fragments in (("name phone", ""),
                                 ("name ... on Customer { address { city } }", ""),
                                 ("...more", fragment),
                                 ("name remoteData", "")):
        zero_counts(simulators)
        await gateway.data(f"""{{ invoices(first: 2, filter: {{sources: ["billing"]}}) {{
          nodes {{ customer {{ {selection} }} }} }} }} {fragments}""")
        assert request_counts(simulators)["invoicematic"]["GET /api/customers"] == 1, selection


async def test_embedded_customer_is_current_after_an_update(make_gateway, simulators):
    gateway = await make_gateway(cache_ttl=0)
    data = await gateway.data(EMBEDDED)
    customer = data["invoices"]["nodes"][0]["customer"]
    await written(gateway, "updateCustomer", {"id": customer["id"], "name": "Renamed Ltd"})
    after = await gateway.data(EMBEDDED)
    assert after["invoices"]["nodes"][0]["customer"]["name"] == "Renamed Ltd"


async def test_a_copy_taken_at_issue_is_not_served_for_the_customer(gateway, simulators):
    # Cloud Billing's embedded customer is a snapshot from when the invoice was issued, so
    # the customer is read as the customer resource (provided_customer_fields is empty).
    zero_counts(simulators)
    await gateway.data("""{ invoices(first: 2, filter: {sources: ["cloud"]}) {
      nodes { customer { name } } } }""")
    assert any(route.startswith("GET /customers") for route in
               request_counts(simulators)["cloudbilling"]), request_counts(simulators)


async def test_small_page_with_customers_reads_page_and_list_once(gateway, simulators):
    zero_counts(simulators)
    data = await gateway.data(WITH_CUSTOMERS)
    assert all(edge["node"]["customer"]["name"] for edge in data["invoices"]["edges"])
    assert request_counts(simulators)["invoicematic"] == {
        "GET /api/invoices": 1, "GET /api/customers": 1}


async def test_no_customer_selected_reads_no_customers(gateway, simulators):
    zero_counts(simulators)
    await gateway.data('{ invoices(first: 2, filter: {sources: ["billing"]}) { nodes { id } } }')
    assert request_counts(simulators)["invoicematic"] == {"GET /api/invoices": 1}


async def test_nested_pages_read_the_customer_list_once_per_request(gateway, simulators):
    zero_counts(simulators)
    await gateway.data("""{ invoices(first: 3, filter: {sources: ["billing"]}) { nodes {
      customer { invoices(first: 2) { nodes { customer { name phone } } } } } } }""")
    assert request_counts(simulators)["invoicematic"]["GET /api/customers"] == 1


async def test_a_failed_list_read_falls_back_to_the_loader(make_gateway, simulators):
    gateway = await make_gateway(stale_ttl=0)  # no stale copy to paper over the failure
    running = simulators.running["invoicematic"]
    expected = await gateway.data(WITH_CUSTOMERS)
    sim_control(running, "POST", "/_sim/faults",
                {"mode": "500", "times": 1, "path": "/api/customers"})
    zero_counts(simulators)
    try:
        assert await gateway.data(WITH_CUSTOMERS) == expected
        counts = request_counts(simulators)["invoicematic"]
        assert counts["GET /api/customers"] == 1  # the failed list read
        assert counts["GET /api/customers/{id}"] >= 1  # the loader's own reads
    finally:
        sim_control(running, "DELETE", "/_sim/faults")


def test_every_customer_field_is_classed_for_embedded_customers():
    # A field added to Customer must say whether an embedded customer can answer it.
    from resolvers.schema import schema
    from resolvers.types import CUSTOMER_ATTRIBUTES, FROM_ANY_SNAPSHOT

    fields = set(schema._schema.type_map["Customer"].fields) | {"__typename"}
    assert fields == FROM_ANY_SNAPSHOT | set(CUSTOMER_ATTRIBUTES)
