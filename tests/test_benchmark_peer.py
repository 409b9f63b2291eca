"""The peer benchmark's own logic (no network, no Node): wrk output, data check, OpenAPI."""

from __future__ import annotations

import json

import pytest

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
    body = script.split("wrk.body = ", 1)[1].strip()
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
