"""An invoice page's customers are read alongside the page, where one read gives them all."""

from __future__ import annotations

from tests.conftest import request_counts, sim_control, zero_counts

WITH_CUSTOMERS = """{ invoices(first: 2, filter: {sources: ["billing"]}) {
  edges { node { number customer { remoteId name } } } } }"""


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
      customer { invoices(first: 2) { nodes { customer { name } } } } } } }""")
    assert request_counts(simulators)["invoicematic"]["GET /api/customers"] == 1


async def test_a_failed_list_read_falls_back_to_the_loader(gateway, simulators):
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
