"""Helpers for the write tests: mutations through the gateway, reads back, upstream counts."""

from __future__ import annotations

from typing import Any

from gateway.simulators.runner import SimulatorGroup
from tests.conftest import GatewayClient, request_counts

INVOICE = """id source remoteId type number status statusRaw version currency issueDate dueDate
  purchaseOrderNumber terms subtotal { amount currency } taxTotal { amount } total { amount currency }
  amountDue { amount } customer { id } vendor { id }
  lineItems { description sku quantity unitPrice { amount } taxRate total { amount } }"""
CUSTOMER = "id source remoteId name email phone address { line1 city country }"
PAYLOADS = {
    "createInvoice": f"invoice {{ {INVOICE} }}",
    "updateInvoice": f"invoice {{ {INVOICE} }}",
    "setInvoiceStatus": f"invoice {{ {INVOICE} }}",
    "deleteInvoice": "deletedId",
    "recordPayment": "payment { id remoteId number date amount { amount currency } "
    "invoice { id status amountDue { amount } } }",
    "createCustomer": f"customer {{ {CUSTOMER} }}",
    "updateCustomer": f"customer {{ {CUSTOMER} }}",
    "submitInvoiceDocument": f"invoice {{ {INVOICE} }}",
}
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


async def mutate_raw(gateway: GatewayClient, name: str, input: dict[str, Any]) -> dict[str, Any]:
    """The whole response of one mutation."""
    type_name = name[0].upper() + name[1:] + "Input"
    document = (
        f"mutation($input: {type_name}!) {{ {name}(input: $input) {{ {PAYLOADS[name]} "
        "userErrors { field message code } } }"
    )
    return await gateway.query(document, {"input": input})


async def mutate(gateway: GatewayClient, name: str, input: dict[str, Any]) -> dict[str, Any]:
    """The payload of a mutation that must not raise a GraphQL error."""
    body = await mutate_raw(gateway, name, input)
    assert not body.get("errors"), body["errors"]
    payload: dict[str, Any] = body["data"][name]
    return payload


async def written(gateway: GatewayClient, name: str, input: dict[str, Any]) -> dict[str, Any]:
    """The payload of a mutation that must succeed without user errors."""
    payload = await mutate(gateway, name, input)
    assert payload["userErrors"] == [], payload["userErrors"]
    return payload


async def refused(
    gateway: GatewayClient, name: str, input: dict[str, Any]
) -> list[dict[str, Any]]:
    """The user errors of a mutation that must be refused (and return no object)."""
    payload = await mutate(gateway, name, input)
    assert payload["userErrors"], payload
    assert all(value is None for key, value in payload.items() if key != "userErrors")
    errors: list[dict[str, Any]] = payload["userErrors"]
    return errors


async def read_invoice(gateway: GatewayClient, invoice_id: str) -> dict[str, Any] | None:
    body = await gateway.query(
        f"query($id: ID!) {{ invoice(id: $id) {{ {INVOICE} }} }}", {"id": invoice_id}
    )
    invoice: dict[str, Any] | None = body["data"]["invoice"]
    return invoice


async def read_customer(gateway: GatewayClient, customer_id: str) -> dict[str, Any]:
    data = await gateway.data(
        f"query($id: ID!) {{ customer(id: $id) {{ {CUSTOMER} }} }}", {"id": customer_id}
    )
    customer: dict[str, Any] = data["customer"]
    return customer


async def first_id(gateway: GatewayClient, what: str, source: str, **filters: Any) -> str:
    """The global id of the first record of a list of one source."""
    if what == "invoices":
        args = {"sources": [source], **filters}
        data = await gateway.data(
            "query($f: InvoiceFilter) { invoices(first: 1, filter: $f) { nodes { id } } }",
            {"f": args},
        )
    else:
        data = await gateway.data(
            f"query($s: [String!]) {{ {what}(first: 1, sources: $s) {{ nodes {{ id }} }} }}",
            {"s": [source]},
        )
    nodes = data[what]["nodes"]
    assert nodes, f"no {what} in {source}"
    node_id: str = nodes[0]["id"]
    return node_id


def upstream_writes(simulators: SimulatorGroup, kind: str) -> dict[str, int]:
    """The write requests (POST, PUT, PATCH, DELETE) a simulator received, per route."""
    routes = request_counts(simulators)[kind]
    return {route: n for route, n in routes.items() if route.split(" ")[0] in WRITE_METHODS}


def upstream_total(simulators: SimulatorGroup, kind: str) -> int:
    return sum(request_counts(simulators)[kind].values())


def codes(errors: list[dict[str, Any]]) -> list[str]:
    return [error["code"] for error in errors]


def fields(errors: list[dict[str, Any]]) -> list[list[str] | None]:
    return [error["field"] for error in errors]
