"""Mutations (`resolvers.mutations`): input the client can fix comes back as `userErrors`
(field paths in the GraphQL input's own names, every problem at once, the object null),
never as a GraphQL error, and before any upstream request; a client without write access
gets FORBIDDEN on every mutation. Through the app over ASGI, simulators over real HTTP.

Elsewhere: negative quantities/prices, empty lines, another source's customer, unknown
currency and source (tests/test_writes.py); what each source cannot write, UNSUPPORTED
(tests/test_writes_<kind>.py); write access per client and source (tests/test_access.py);
idempotency (tests/test_writes.py, tests/test_exactly_once.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from gateway.domain.ids import encode_id
from tests.conftest import request_counts, zero_counts
from tests.writing import PAYLOADS, codes, fields, mutate_raw, refused

# Nothing here may reach an upstream (each test checks), so no re-seeding afterwards.

LINE = {"description": "Widget", "quantity": "2", "unitPrice": "10.00"}
INVOICE = encode_id("Invoice", "cloud", "00000000-0000-4000-8000-000000000000")
CUSTOMER = encode_id("Customer", "cloud", "00000000-0000-4000-8000-000000000000")

# One valid-looking input per mutation, naming a cloud record or the cloud source.
EVERY_MUTATION: dict[str, dict[str, Any]] = {
    "createInvoice": {"source": "cloud", "customerId": CUSTOMER, "lineItems": [LINE]},
    "updateInvoice": {"id": INVOICE, "number": "X-1"},
    "setInvoiceStatus": {"id": INVOICE, "status": "VOID"},
    "deleteInvoice": {"id": INVOICE},
    "recordPayment": {"invoiceId": INVOICE, "amount": "1.00", "date": "2026-11-03"},
    "createCustomer": {"source": "cloud", "name": "Someone"},
    "updateCustomer": {"id": CUSTOMER, "name": "Someone Else"},
    "submitInvoiceDocument": {"source": "cloud", "filename": "a.pdf",
                              "contentBase64": "JVBERi0="},
}


def no_upstream_request(simulators) -> bool:
    return not any(routes for routes in request_counts(simulators).values())


@pytest.mark.parametrize("name", list(EVERY_MUTATION))
async def test_a_read_only_client_is_refused_every_mutation(make_gateway, simulators, name):
    key = "read-only-client-key-77"
    gateway = await make_gateway(top={"clients": [{"name": "viewer", "key": key}]})
    zero_counts(simulators)
    document = (f"mutation($input: {name[0].upper()}{name[1:]}Input!) {{ {name}(input: $input) "
                f"{{ {PAYLOADS[name]} userErrors {{ field message code }} }} }}")
    body = await gateway.query(document, {"input": EVERY_MUTATION[name]},
                               headers={"Authorization": f"Bearer {key}"})
    assert "errors" not in body, body
    payload = body["data"][name]
    assert all(value is None for field, value in payload.items() if field != "userErrors")
    assert payload["userErrors"] == [{
        "field": None, "code": "FORBIDDEN",
        "message": "client 'viewer' may not write to source 'cloud'"}]
    assert no_upstream_request(simulators)


@pytest.mark.parametrize(("name", "input", "field"), [
    ("updateInvoice", {"id": "not-an-id", "number": "1"}, "id"),
    ("setInvoiceStatus", {"id": "not-an-id", "status": "VOID"}, "id"),
    ("deleteInvoice", {"id": CUSTOMER}, "id"),
    ("recordPayment", {"invoiceId": CUSTOMER, "amount": "1", "date": "2026-11-03"},
     "invoiceId"),
    ("updateCustomer", {"id": INVOICE, "name": "A"}, "id"),
])
async def test_an_id_that_is_no_id_of_that_type_is_a_user_error_on_its_field(
    gateway, simulators, name, input, field,
):
    zero_counts(simulators)
    errors = await refused(gateway, name, input)
    assert fields(errors) == [["input", field]] and codes(errors) == ["VALIDATION_FAILED"]
    assert no_upstream_request(simulators)


async def test_every_problem_is_reported_at_once_in_the_inputs_own_names(gateway, simulators):
    zero_counts(simulators)
    errors = await refused(gateway, "createInvoice", {
        "source": "erp", "number": "", "issueDate": "2026-11-10", "dueDate": "2026-11-01",
        "lineItems": [LINE, {**LINE, "description": "", "taxRate": "150"}],
    })
    assert sorted(map(tuple, fields(errors))) == sorted([
        ("input", "lineItems", "1", "description"),
        ("input", "lineItems", "1", "taxRate"),
        ("input", "number"),
        ("input", "dueDate"),
    ])
    assert set(codes(errors)) == {"VALIDATION_FAILED"}
    messages = {tuple(e["field"]): e["message"] for e in errors}
    assert messages[("input", "dueDate")] == "must not be before issueDate"
    assert messages[("input", "lineItems", "1", "taxRate")] == "must be a percentage from 0 to 100"
    assert no_upstream_request(simulators)


async def test_a_refused_write_is_data_not_a_graphql_error(gateway):
    body = await mutate_raw(gateway, "createCustomer", {"source": "nope", "name": "A"})
    assert "errors" not in body
    payload = body["data"]["createCustomer"]
    assert payload["customer"] is None
    (error,) = payload["userErrors"]
    assert error["field"] == ["input", "source"] and error["code"] == "VALIDATION_FAILED"
