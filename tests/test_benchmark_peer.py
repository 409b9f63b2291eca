"""The peer benchmark's own logic (no network, no Node): wrk output, data check, OpenAPI."""

from __future__ import annotations

import json

import pytest

from benchmarks import varied
from benchmarks.invoicematic_openapi import openapi
from benchmarks.loadgen import lua_script, parse_wrk
from benchmarks.peer import same_data

WRK_OUTPUT = """\
Running 5s test @ http://127.0.0.1:4000/graphql
  1 threads and 10 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    21.50ms    3.10ms  60.00ms   90.00%
  Latency Distribution
     50%   20.80ms
     75%   22.10ms
     90%   24.00ms
     99%    1.20s
  2301 requests in 5.00s, 9.10MB read
  Non-2xx or 3xx responses: 3
Requests/sec:    460.12
Transfer/sec:      1.82MB
"""


def test_parse_wrk_reads_rate_percentiles_and_errors() -> None:
    load = parse_wrk(WRK_OUTPUT)
    assert load.requests_per_second == 460.12
    assert load.p50_ms == pytest.approx(20.8)
    assert load.p99_ms == pytest.approx(1200.0)
    assert (load.requests, load.errors) == (2301, 3)


def test_parse_wrk_refuses_output_without_figures() -> None:
    with pytest.raises(ValueError, match="wrk output"):
        parse_wrk("unable to connect to 127.0.0.1:4000 Connection refused\n")


def test_lua_script_posts_the_payload_as_json() -> None:
    payload = {"query": '{ a(b: "c") }'}
    script = lua_script(payload)
    body = script.split("wrk.body = ", 1)[1].split("\n", 1)[0]
    assert json.loads(json.loads(body)) == payload
    assert 'wrk.method = "POST"' in script


def _answers(email: str) -> tuple[dict[str, object], dict[str, object]]:
    ours = {"data": {"invoices": {"nodes": [
        {"remoteId": str(i), "number": f"INV-{i}", "total": {"amount": "12.50",
         "currency": "EUR"}, "customer": {"remoteId": "7", "name": "Acme",
         "email": "a@x.example"}} for i in range(50)]}}}
    hive = {"data": {"listInvoices": {"data": [
        {"id": i, "invoice_number": f"INV-{i}", "total": 1250, "currency_id": 3,
         "customer": {"data": {"id": 7, "name": "Acme", "email": email}}}
        for i in range(50)]}}}
    return ours, hive


def test_same_data_accepts_equal_answers_and_refuses_a_difference() -> None:
    same_data(*_answers("a@x.example"))
    with pytest.raises(SystemExit, match="disagree"):
        same_data(*_answers("b@x.example"))


def test_openapi_describes_the_two_operations_the_peer_uses() -> None:
    spec = openapi("http://127.0.0.1:1/api/v1")
    assert spec["servers"] == [{"url": "http://127.0.0.1:1/api/v1"}]
    operations = {op["operationId"] for path in spec["paths"].values() for op in path.values()}
    assert operations == {"listInvoices", "getCustomer"}
    invoice = spec["components"]["schemas"]["Invoice"]["properties"]
    assert {"invoice_number", "total", "currency_id", "customer_id", "items"} <= set(invoice)


def test_parse_wrk_counts_answers_with_graphql_errors_as_failed() -> None:
    load = parse_wrk(WRK_OUTPUT.replace("Requests/sec", "GraphQL errors: 4\nRequests/sec"))
    assert load.errors == 3 + 4


def test_lua_script_takes_several_bodies_in_turn_and_counts_graphql_errors() -> None:
    payloads = [{"query": "{ a }"}, {"query": "{ b }", "variables": {"after": "x"}}]
    script = lua_script(payloads)
    assert "function request()" in script and "wrk.body =" not in script
    bodies = script.split("local bodies = {", 1)[1].split("}\n", 1)[0]
    assert [json.loads(json.loads(b)) for b in bodies.strip(" {").split(", \"")[:1]] == [
        payloads[0]]
    assert '\\"after\\"' in script  # the second body, escaped as a Lua string
    # A 200 answer with errors in its body is counted, and the total printed for parse_wrk.
    assert 'string.find(body, \'"errors"\'' in script and "GraphQL errors: %d" in script
    assert "GraphQL errors: %d" in lua_script(payloads[0])


def test_varied_pages_are_forty_distinct_pages_of_three_sizes_within_the_invoices() -> None:
    specs = varied.pages()
    assert len(set(specs)) == 40
    assert {spec.size for spec in specs} == {10, 25, 50}
    assert all(spec.offset >= 0 and spec.offset + spec.size <= 1000 for spec in specs)


def test_varied_payloads_page_alike_with_cursors_and_page_numbers() -> None:
    specs = [varied.PageSpec(10, 1), varied.PageSpec(25, 3)]
    by_offset = [f"c{i}" for i in range(1000)]
    ours = varied.our_payloads(specs, by_offset)
    assert [p["variables"] for p in ours] == [{"first": 10, "after": None},
                                             {"first": 25, "after": "c49"}]
    hive = varied.hive_payloads(specs)
    assert 'limit: "25", page: 3' in hive[1]["query"]
