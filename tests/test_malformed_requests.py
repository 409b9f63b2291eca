"""Nothing a client sends is a 5xx: every malformed request to `/graphql` is a 4xx with a
GraphQL error naming what was wrong, an `extensions.code`, and `X-Request-Id`; and a 500
that still happens (a bug) is JSON, carries `X-Request-Id`, and is logged with its real
status and its traceback as one field of one JSON line."""

from __future__ import annotations

import json
import logging

import pytest

from tests.conftest import gateway_app, open_gateway

JSON = {"content-type": "application/json"}
DEEP = 100_000  # past every recursive parser's limit (msgspec's and json's are ~1,000)
GET_DEEP = 5_000  # as deep as a URL httpx sends (64 KiB) holds, still past those limits


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def with_raw_variables(raw: str) -> bytes:
    return ('{"query": "{ __typename }", "variables": {"a": ' + raw + "}}").encode()


POST_CASES = {
    "a JSON string": (b'"just a string"', "must be a JSON object, got a string"),
    "a JSON number": (b"42", "must be a JSON object, got a number"),
    "a JSON null": (b"null", "must be a JSON object, got null"),
    "a JSON array (a batch)": (b'[{"query": "{ __typename }"}]', "Batching is not enabled"),
    "not JSON": (b"{not json", "Unable to parse request body as JSON"),
    "an empty body": (b"", "Unable to parse request body as JSON"),
    "invalid UTF-8": (b'{"query": "{ __typename }", "x": "\xff\xfe"}', "not UTF-8"),
    "invalid UTF-8 outside strings": (b"\xff{}", "not UTF-8"),
    "a deeply nested body": (nested(DEEP).encode(), "nested deeper than 64"),
    "deeply nested variables": (with_raw_variables(nested(DEEP)), "nested deeper than 64"),
    "variables nested past the cap": (with_raw_variables(nested(70)), "nested deeper than 64"),
    "objects nested past the cap": (
        with_raw_variables('{"a":' * 70 + "1" + "}" * 70), "nested deeper than 64"
    ),
    "query of the wrong type": (b'{"query": 5}', "`query` must be a string"),
    "query as an object": (b'{"query": {"text": "{ __typename }"}}', "`query` must be a string"),
    "variables of the wrong type": (
        b'{"query": "{ __typename }", "variables": "{}"}', "`variables` must be an object"
    ),
    "variables as an array": (
        b'{"query": "{ __typename }", "variables": [1]}', "`variables` must be an object"
    ),
    "operationName of the wrong type": (
        b'{"query": "{ __typename }", "operationName": 5}', "`operationName` must be a string"
    ),
    "operationName as an object": (
        b'{"query": "{ __typename }", "operationName": {"a": 1}}',
        "`operationName` must be a string",
    ),
    "extensions of the wrong type": (
        b'{"query": "{ __typename }", "extensions": [1]}', "`extensions` must be an object"
    ),
    "no query": (b'{"variables": {}}', "No GraphQL query found"),
}

GET_CASES = {
    "deeply nested variables": (
        {"query": "{ __typename }", "variables": nested(GET_DEEP)}, "nested deeper than 64"
    ),
    "variables nested past the cap": (
        {"query": "{ __typename }", "variables": '{"a":' + nested(80) + "}"},
        "nested deeper than 64",
    ),
    "deeply nested extensions": (
        {"query": "{ __typename }", "extensions": nested(GET_DEEP)}, "nested deeper than 64"
    ),
    "variables that are not JSON": ({"query": "{ __typename }", "variables": "{a"},
                                    "`variables` parameter"),
    "variables of the wrong type": ({"query": "{ __typename }", "variables": "[1]"},
                                    "`variables` must be an object"),
    "a mutation over GET": ({"query": "mutation { __typename }"}, "mutations are not allowed"),
}


def assert_refused(response, expected: str, status: int = 400) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/"), response.headers
    assert response.headers["content-type"].split(";")[0].endswith("json")
    assert len(response.headers["x-request-id"]) >= 8
    error = response.json()["errors"][0]
    assert expected in error["message"], error
    assert error["extensions"]["code"] in ("BAD_REQUEST", "METHOD_NOT_ALLOWED"), error
    assert "Traceback" not in response.text


@pytest.mark.parametrize("case", list(POST_CASES))
async def test_malformed_post_is_a_coded_4xx(gateway, case):
    body, expected = POST_CASES[case]
    response = await gateway.http.post("/graphql", content=body, headers=JSON)
    assert_refused(response, expected)


@pytest.mark.parametrize("case", list(GET_CASES))
async def test_malformed_get_is_a_coded_4xx(gateway, case):
    params, expected = GET_CASES[case]
    response = await gateway.http.get("/graphql", params=params,
                                      headers={"accept": "application/json"})
    assert_refused(response, expected)


async def test_unsupported_content_type_is_a_coded_4xx(gateway):
    response = await gateway.http.post("/graphql", content=b"query=x",
                                       headers={"content-type": "text/plain"})
    assert_refused(response, "Unsupported content type")


async def test_the_request_id_sent_comes_back_on_a_refusal(gateway):
    response = await gateway.http.post("/graphql", content=b'"x"',
                                       headers={**JSON, "x-request-id": "bad-body-1"})
    assert response.status_code == 400
    assert response.headers["x-request-id"] == "bad-body-1"


async def test_modern_clients_get_the_same_refusals(gateway):
    response = await gateway.http.post(
        "/graphql", content=b"[[[[1]]]]", headers={
            **JSON, "accept": "application/graphql-response+json"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/graphql-response+json")
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_a_well_formed_request_still_passes(gateway):
    body = with_raw_variables(nested(60))
    response = await gateway.http.post("/graphql", content=body, headers=JSON)
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_an_escaped_exception_is_a_json_500_logged_on_one_line(simulators, caplog):
    app = gateway_app(simulators)

    async def boom() -> None:
        raise RuntimeError("forced failure for the test")

    app.add_api_route("/boom", boom, methods=["GET"])
    caplog.set_level(logging.INFO, logger="invoice_gateway.requests")
    async with open_gateway(app) as gateway:
        response = await gateway.http.get("/boom", headers={"x-request-id": "boom-1"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "boom-1"
    assert response.json() == {"errors": [{
        "message": "Internal error; it has been logged.",
        "extensions": {"code": "INTERNAL_SERVER_ERROR"},
    }]}
    assert "forced failure" not in response.text
    records = [r for r in caplog.records if r.name == "invoice_gateway.requests"]
    assert len(records) == 1 and records[0].levelno == logging.ERROR
    message = records[0].getMessage()
    assert "\n" not in message, "one line"
    line = json.loads(message)
    assert line["status"] == 500 and line["request_id"] == "boom-1"
    assert "RuntimeError: forced failure for the test" in line["traceback"]
    assert "in boom" in line["traceback"]
    assert not any(r.exc_info for r in caplog.records), "no multi-line record beside it"


async def test_a_resolver_failure_logs_its_traceback_on_the_request_line(gateway, caplog):
    async def broken() -> None:
        raise ZeroDivisionError("forced resolver failure")

    gateway.app.state.adapters["billing"].check = broken
    caplog.set_level(logging.INFO)
    response = await gateway.http.post(
        "/graphql", json={"query": "{ sources { name healthy } }"},
        headers={"x-request-id": "resolver-1"})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "resolver-1"
    error = response.json()["errors"][0]
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    assert "forced" not in response.text and "Traceback" not in response.text
    records = [r for r in caplog.records if r.name == "invoice_gateway.requests"]
    line = json.loads(records[-1].getMessage())
    assert line["request_id"] == "resolver-1" and line["status"] == 200
    assert "ZeroDivisionError: forced resolver failure" in line["traceback"]
    assert not any(r.exc_info for r in caplog.records), "tracebacks only as a JSON field"
    assert all("\n" not in r.getMessage() for r in caplog.records), "one line per record"


def test_the_server_log_has_one_line_per_record_even_with_a_traceback():
    from gateway.cli.main import OneLineFormatter

    formatter = OneLineFormatter("%(levelname)s %(name)s: %(message)s")
    try:
        raise ValueError("first line\nsecond line")
    except ValueError:
        import sys

        record = logging.LogRecord("invoice_gateway.x", logging.ERROR, __file__, 1,
                                   "failed:\n%s", ("detail",), sys.exc_info())
    text = formatter.format(record)
    assert "\n" not in text and "\r" not in text
    assert text.startswith("ERROR invoice_gateway.x: failed:\\ndetail\\nTraceback")
    assert "ValueError: first line\\nsecond line" in text


def test_a_served_gateway_answers_every_malformed_input_and_logs_no_traceback(
    simulators, tmp_path
):
    """The same inputs over real HTTP to `invoice-gateway serve`: 4xx each, and a log of
    one record per line, none of them a traceback."""
    import httpx

    from tests.tools import GatewayProcess

    process = GatewayProcess({"sources": simulators.source_blocks()}, tmp_path).start()
    try:
        with httpx.Client(base_url=process.url, timeout=30) as http:
            for case, (body, expected) in POST_CASES.items():
                response = http.post("/graphql", content=body, headers=JSON)
                assert response.status_code == 400, (case, response.text)
                assert expected in response.json()["errors"][0]["message"], case
                assert response.headers["x-request-id"], case
            for case, (params, expected) in GET_CASES.items():
                response = http.get("/graphql", params=params)
                assert response.status_code == 400, (case, response.text)
                assert expected in response.json()["errors"][0]["message"], case
    finally:
        process.stop()
    log = process.log_path.read_text(encoding="utf-8", errors="replace")
    requests = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert len(requests) >= len(POST_CASES) + len(GET_CASES)
    assert {line["status"] for line in requests if line["path"] == "/graphql"} == {400}
    assert "Traceback" not in log, log[-3000:]
