"""Issue 19, items 7 and 8: ids never shape an upstream URL, and never a metric label.

Every id is checked against its source's id shape (docs/upstreams/) and percent-encoded as
exactly one path segment by the shared client: an id that cannot exist answers a coded
not-found naming it, with no upstream request. Metric route labels are the adapters'
declared templates, so lookups of random ids cannot grow the series.
"""

from __future__ import annotations

import json
import random
import re
import string
import uuid

import pytest

from gateway.domain.ids import encode_id
from tests.conftest import request_counts, zero_counts

SOURCES = ("ap", "erp", "billing", "cloud")
HOSTILE = [
    "x/../../currencies",  # another resource with the source's token
    "..", ".",
    "1/../2", "1?include=secret", "1#fragment", "1%2F..%2Fcurrencies", "%2e%2e",
    "1\x00", "\x00", "1\r\nX-Injected: 1", "\uff11\uff12",  # NUL, CRLF, full-width digits
    "02000274112739/status", "1 ", " 1", "-1", "0",
]
INVOICE = "query($s: String!, $r: String!) { invoice(source: $s, remoteId: $r) { id } }"


def test_routes_check_and_encode_each_id_as_one_segment():
    from gateway.errors import InvalidRemoteId
    from gateway.upstream.routes import IdShape, Routes

    routes = Routes({"/api/invoices", "/api/invoices/{id}", "/api/invoices/{id}/status"},
                    IdShape.of(r"[0-9]{14}", "14 digits"))
    assert routes.expand("/api/invoices/{id}/status", {"id": "02000274112739"}) == (
        "/api/invoices/02000274112739/status")
    for value in [*HOSTILE, ""]:
        with pytest.raises(InvalidRemoteId, match="14 digits"):
            routes.expand("/api/invoices/{id}", {"id": value})
    # without a shape, an id is still exactly one segment
    loose = Routes({"/c/{id}"})
    assert loose.expand("/c/{id}", {"id": "a/b?c#d%e"}) == "/c/a%2Fb%3Fc%23d%25e"
    for value in ("", ".", "..", "a\x00", "a\nb"):
        with pytest.raises(InvalidRemoteId):
            loose.expand("/c/{id}", {"id": value})
    assert routes.label("/api/invoices/02000274112739") == "/api/invoices/{id}"
    assert routes.label("/api/invoices/abc/status") == "/api/invoices/{id}/status"
    assert routes.label("/api/invoices") == "/api/invoices"
    assert routes.label("/api/currencies") == "other"
    assert routes.label("/api/invoices/1/2") == "other"


def assert_not_found_without_a_call(body: dict, value: str, simulators) -> None:
    assert "INTERNAL" not in json.dumps(body)
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "UPSTREAM_NOT_FOUND", error
    assert repr(value[:60]) in error["message"], error["message"]
    assert "Traceback" not in error["message"] and "sim-token" not in json.dumps(body)
    assert all(not routes for routes in request_counts(simulators).values()), "no upstream call"


@pytest.mark.parametrize("source", SOURCES)
async def test_hostile_remote_ids_never_reach_the_upstream(gateway, simulators, source):
    for value in HOSTILE:
        zero_counts(simulators)
        body = await gateway.query(INVOICE, {"s": source, "r": value})
        assert body["data"] == {"invoice": None}
        assert_not_found_without_a_call(body, value, simulators)


async def test_hostile_ids_inside_global_ids_never_reach_the_upstream(gateway, simulators):
    for source, type_name, field in [("erp", "Customer", "customer"), ("cloud", "Invoice", "node"),
                                     ("billing", "Payment", "payment"),
                                     ("erp", "Vendor", "vendor")]:
        for value in ("x/../../currencies", "1?include=all", "\x00"):
            zero_counts(simulators)
            gid = encode_id(type_name, source, value)
            body = await gateway.query(f"query($id: ID!) {{ {field}(id: $id) {{ id }} }}",
                                       {"id": gid})
            assert_not_found_without_a_call(body, value, simulators)


async def test_a_write_to_a_hostile_id_sends_nothing(gateway, fresh_simulators):
    simulators = fresh_simulators
    zero_counts(simulators)
    gid = encode_id("Invoice", "cloud", "../customers")
    body = await gateway.query(
        "mutation($id: ID!) { deleteInvoice(input: {id: $id}) { deletedId userErrors { code } } }",
        {"id": gid})
    assert "INTERNAL" not in json.dumps(body)
    assert all(not routes for routes in request_counts(simulators).values()), "no upstream call"


def route_labels(gateway) -> dict[str, set[str]]:
    text = gateway.app.state.metrics.render().decode()
    labels: dict[str, set[str]] = {}
    for label_text in re.findall(r"^invoice_gateway_upstream_requests_total\{(.*)\} \S+$", text,
                                 re.MULTILINE):
        pairs = dict(re.findall(r'(\w+)="([^"]*)"', label_text))
        labels.setdefault(pairs["source"], set()).add(pairs["route"])
    return labels


async def test_random_id_lookups_leave_the_metric_series_bounded(gateway, simulators):
    rng = random.Random(19)
    ids = []
    for n in range(1000):
        kind = n % 4
        if kind == 0:  # letters: refused before any request (no series at all)
            value = "".join(rng.choices(string.ascii_letters, k=12))
            ids.append(encode_id("Invoice", "erp", value))
        elif kind == 1:  # well-shaped Makini keys that do not exist: one 404 each
            ids.append(encode_id("Invoice", "erp", f"{rng.randrange(10**14):014d}"))
        elif kind == 2:
            ids.append(encode_id("Customer", "cloud", str(uuid.UUID(int=rng.getrandbits(128)))))
        else:
            ids.append(encode_id("Invoice", "billing", str(rng.randrange(10**6, 10**9))))
    before = len(gateway.app.state.metrics.render())
    for start in range(0, len(ids), 250):
        body = await gateway.query("query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
                                   {"ids": ids[start:start + 250]})
        assert len(body["errors"]) == 250
        assert "INTERNAL" not in json.dumps(body)
    labels = route_labels(gateway)
    assert labels["erp"] <= {"/api/invoices/{id}", "/api/currencies", "/api/statuses/invoices"}
    assert labels["cloud"] <= {"/customers/{id}", "/customers"}  # many ids: the list
    assert labels["billing"] <= {"/api/invoices/{id}"}
    grown = len(gateway.app.state.metrics.render()) - before
    assert grown < 20_000, f"/metrics grew by {grown} bytes"
