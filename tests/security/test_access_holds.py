"""What the adversarial review of issue 19 found holding, kept holding: a scoped caller
reaches no other source (`FORBIDDEN`, and no upstream request at all) through the paths
`tests/test_access.py` does not walk, and no credential appears in any answer or log line
of a run of hostile requests."""

from __future__ import annotations

import logging

from tests.conftest import invoicematic_delivery, request_counts, zero_counts
from tests.test_access import CLIENTS, FINANCE_KEY, OPS_KEY, bearer


async def test_entities_and_summaries_of_another_source_are_forbidden(make_gateway,
                                                                           simulators):
    gateway = await make_gateway(top={"clients": CLIENTS})
    listing = await gateway.data('{ invoices(first: 1, filter: {sources: ["cloud"]}) '
                                 "{ nodes { id } } }", headers=bearer(OPS_KEY))
    cloud_id = listing["invoices"]["nodes"][0]["id"]
    zero_counts(simulators)
    finance = bearer(FINANCE_KEY)
    entities = await gateway.query(
        "query($r: [_Any!]!) { _entities(representations: $r) { ... on Invoice { number } } }",
        {"r": [{"__typename": "Invoice", "id": cloud_id}]}, headers=finance)
    assert entities["errors"][0]["extensions"]["code"] == "FORBIDDEN", entities
    summary = await gateway.query('{ invoiceSummary(filter: {sources: ["cloud"]}, '
                                  "groupBy: [SOURCE]) { count } }", headers=finance)
    assert summary["errors"][0]["extensions"]["code"] == "FORBIDDEN", summary
    assert sum(request_counts(simulators)["cloudbilling"].values()) == 0


async def test_no_credential_in_any_answer_or_log_line(make_gateway, simulators, caplog):
    secret = "whsec-never-shown-5b1f"
    gateway = await make_gateway(top={"clients": CLIENTS}, webhook_secret=secret)
    config = gateway.app.state.config
    credentials = [FINANCE_KEY, OPS_KEY, secret,
                   *(source.token.get_secret_value() for source in config.sources)]
    answers: list[str] = []
    caplog.set_level(logging.DEBUG)
    attempts = [
        ("POST", "/graphql", {"query": "{ sources { name } }"}, bearer(FINANCE_KEY + "x")),
        ("POST", "/graphql", {"query": "{ sources { name } }"}, {"Authorization": FINANCE_KEY}),
        ("POST", "/graphql", {"query": '{ invoice(source: "cloud", remoteId: "1") { id } }'},
         bearer(FINANCE_KEY)),
        ("POST", "/graphql", {"query": "{ nope }"}, bearer(OPS_KEY)),
        ("POST", "/graphql", {"query": '{ invoice(source: "erp", remoteId: "x/../y") { id } }'},
         bearer(OPS_KEY)),
        ("GET", "/metrics", None, bearer(OPS_KEY)),
        ("GET", "/readyz", None, bearer(OPS_KEY)),
    ]
    for method, path, body, headers in attempts:
        response = await gateway.http.request(method, path, json=body, headers=headers)
        assert response.status_code < 500, (path, response.text)
        answers.append(response.text + str(response.headers))
    body, headers = invoicematic_delivery("guess", "invoice.paid", {"id": 1})
    answers.append((await gateway.http.post("/webhooks/billing", content=body,
                                            headers=headers)).text)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for credential in credentials:
        assert all(credential not in text for text in answers), credential[:4]
        assert credential not in logged, credential[:4]
