"""Exactly-once creates through unknown outcomes (issue 18, item 1).

A delaying proxy in front of a simulator forwards the create and holds its reply past the
source's timeout: the upstream made the record, the gateway heard nothing. The client is
told WRITE_OUTCOME_UNKNOWN (never that nothing happened), and its retry with the same key
finds that very record upstream by the reference the create carried: one record, the same
answer every time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from gateway.app import create_app
from gateway.config import parse_config
from gateway.registry import KINDS
from gateway.simulators.runner import SimulatorGroup
from tests.conftest import GatewayClient, open_gateway, sim_control, zero_counts
from tests.delaying_proxy import DelayingProxy, delaying_proxy
from tests.writing import first_id, mutate_raw, upstream_writes, written

DEMO_NAMES = KINDS.demo_names()  # kind -> its source's name in the demo

pytestmark = pytest.mark.usefixtures("fresh_simulators")

LINE = {"description": "Widget", "quantity": "2", "unitPrice": "10.00"}
TIMEOUT = 0.5  # the proxied source's timeout
HOLD = 1.5  # how long the proxy holds the create's reply


@asynccontextmanager
async def proxied_gateway(
    simulators: SimulatorGroup, kind: str
) -> AsyncIterator[tuple[GatewayClient, DelayingProxy]]:

    """A gateway whose `kind` source is reached through a delaying proxy."""
    running = simulators.running[kind]
    async with delaying_proxy(running.base_url) as proxy:
        blocks: list[dict[str, Any]] = []
        for block in simulators.source_blocks():
            block = {**block, "cache_ttl": 0}
            if block["kind"] == kind:
                block = {**block, "base_url": proxy.url, "timeout": TIMEOUT, "retries": 0}
            blocks.append(block)
        app = create_app(parse_config({"sources": blocks}, {}))
        async with open_gateway(app) as gateway:
            yield gateway, proxy


async def creating(gateway: GatewayClient, kind: str) -> tuple[str, dict[str, Any], str]:
    """(mutation, input, upstream route) of one keyed create per source."""
    if kind == "makershub":
        return "createInvoice", {"source": "ap", "number": "EO-1", "lineItems": [LINE]}, (
            "POST /v1/invoices")
    if kind == "makini":
        return "createCustomer", {"source": "erp", "name": "Unknown Outcome Ltd"}, (
            "POST /api/customers")
    if kind == "invoicematic":
        customer = await first_id(gateway, "customers", "billing")
        return "createInvoice", {"source": "billing", "customerId": customer, "number": "EO-1",
                                 "issueDate": "2026-11-02", "lineItems": [LINE]}, (
            "POST /api/invoices")
    customer = await first_id(gateway, "customers", "cloud")
    # no number: the gateway's reference is sent as the number and found again by it
    return "createInvoice", {"source": "cloud", "customerId": customer, "lineItems": [LINE]}, (
        "POST /invoices")


def made(payload: dict[str, Any]) -> dict[str, Any]:
    (value,) = [v for k, v in payload.items() if k != "userErrors"]
    assert isinstance(value, dict)
    return value


@pytest.mark.parametrize("kind", list(DEMO_NAMES))
async def test_a_retry_after_an_unknown_outcome_returns_the_one_record_made(simulators, kind):
    async with proxied_gateway(simulators, kind) as (gateway, proxy):
        name, input, route = await creating(gateway, kind)
        if kind == "makershub":
            # MakersHub lists nothing: the gateway looks after the ids it knows (a create
            # it saw is one)
            await written(gateway, name, {**input, "number": "EO-0"})
        input = {**input, "idempotencyKey": f"unknown-{kind}"}
        zero_counts(simulators)
        proxy.hold_next(b"POST ", HOLD)
        body = await mutate_raw(gateway, name, input)
        assert proxy.held == 1
        assert body["data"][name] is None
        (error,) = body["errors"]
        assert error["extensions"] == {
            "code": "WRITE_OUTCOME_UNKNOWN", "source": DEMO_NAMES[kind],
            "idempotencyKey": f"unknown-{kind}", "cause": "UPSTREAM_TIMEOUT"}
        assert upstream_writes(simulators, kind) == {route: 1}  # it did reach the upstream
        await asyncio.sleep(HOLD)  # the held reply is gone; the upstream has the record

        first = made(await written(gateway, name, input))
        again = made(await written(gateway, name, input))
        assert first == again
        if kind == "invoicematic":
            # the retry is the same create with the same Idempotency-Key: a replay upstream
            assert upstream_writes(simulators, kind) == {route: 2}
            assert len(simulators.running[kind].simulator.replays) == 1
        else:
            assert upstream_writes(simulators, kind) == {route: 1}  # found, not made again


async def test_an_unknown_outcome_that_cannot_be_looked_up_is_never_made_again(simulators):
    # Cloud Billing keeps nothing of a customer to find it by: the outcome stays unknown
    # (an operator resolves it, docs/writes.md), and no retry creates a second customer.
    async with proxied_gateway(simulators, "cloudbilling") as (gateway, proxy):
        input = {"source": "cloud", "name": "Lost Reply Inc.", "idempotencyKey": "cust-eo"}
        zero_counts(simulators)
        proxy.hold_next(b"POST ", HOLD)
        first = await mutate_raw(gateway, "createCustomer", input)
        assert first["errors"][0]["extensions"]["code"] == "WRITE_OUTCOME_UNKNOWN"
        await asyncio.sleep(HOLD)
        for _ in range(2):
            retry = await mutate_raw(gateway, "createCustomer", input)
            (error,) = retry["errors"]
            assert error["extensions"]["code"] == "WRITE_OUTCOME_UNKNOWN"
            assert error["extensions"]["source"] == "cloud"
            assert "looking for it there failed" in error["message"]
        assert upstream_writes(simulators, "cloudbilling") == {"POST /customers": 1}


async def test_a_create_refused_before_it_was_sent_releases_its_key(simulators):
    # Nothing listens where the source points: the request never left, so nothing was
    # made and the key is free for the retry (no WRITE_OUTCOME_UNKNOWN).
    blocks = [{**b, "cache_ttl": 0} for b in simulators.source_blocks()]
    for block in blocks:
        if block["kind"] == "makini":
            block["base_url"] = "http://127.0.0.1:9"
            block["retries"] = 0
    app = create_app(parse_config({"sources": blocks}, {}))
    async with open_gateway(app) as gateway:
        input = {"source": "erp", "name": "Never Sent", "idempotencyKey": "unsent"}
        body = await mutate_raw(gateway, "createCustomer", input)
        assert body["errors"][0]["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
        store = app.state.store
        assert await store.unfinished_claims() == []


async def test_operators_list_and_resolve_unfinished_claims(simulators, tmp_path, capsys):
    import yaml

    from gateway.cli.main import main
    from gateway.state.open import open_state

    state = f"sqlite:///{tmp_path / 'state.sqlite3'}"
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump({"sources": simulators.source_blocks(), "state": state}))
    store = open_state(state)
    await store.claim_idempotency("finance-web\ncloud", "order-42", "fp", reference="gw-abc",
                                  owner="dead", lease=-1)
    await store.claim_idempotency("finance-web\ncloud", "order-43", "fp", reference="gw-def",
                                  owner="dead", lease=-1)
    await store.close()

    assert await asyncio.to_thread(main, ["resolve-write", "--config", str(config)]) == 0
    listed = capsys.readouterr().out
    assert "key=order-42 reference=gw-abc owner=dead state=unknown" in listed
    base = ["resolve-write", "--config", str(config), "--caller", "finance-web",
            "--source", "cloud"]
    assert await asyncio.to_thread(main, [*base, "--key", "order-42", "--release"]) == 0
    assert await asyncio.to_thread(main, [*base, "--key", "order-43", "--record", "inv-7"]) == 0
    assert await asyncio.to_thread(main, [*base, "--key", "order-44", "--release"]) == 1
    store = open_state(state)
    assert await store.unfinished_claims() == []
    done = await store.claim_idempotency("finance-web\ncloud", "order-43", "fp")
    assert done is not None and done.result is not None and "inv-7" in done.result
    await store.close()


async def test_a_payment_retried_after_an_unknown_outcome_is_recorded_once(simulators):
    async with proxied_gateway(simulators, "invoicematic") as (gateway, proxy):
        invoice = await first_id(gateway, "invoices", "billing", status=["OPEN"])
        input = {"invoiceId": invoice, "amount": "1.00", "date": "2026-11-05",
                 "number": "PAY-EO-1", "idempotencyKey": "pay-unknown"}
        zero_counts(simulators)
        proxy.hold_next(b"POST ", HOLD)
        body = await mutate_raw(gateway, "recordPayment", input)
        assert body["errors"][0]["extensions"]["code"] == "WRITE_OUTCOME_UNKNOWN"
        await asyncio.sleep(HOLD)
        first = (await written(gateway, "recordPayment", input))["payment"]
        again = (await written(gateway, "recordPayment", input))["payment"]
        assert first == again
        # the retry carried the same Idempotency-Key: Invoicematic replayed its first answer
        assert upstream_writes(simulators, "invoicematic") == {"POST /api/payments": 2}
        assert len(simulators.running["invoicematic"].simulator.replays) == 1


async def test_the_simulators_late_fault_is_an_unknown_outcome(simulators):
    # The soak's injected unknown outcome (benchmarks/soak.py): fault mode `late` serves a
    # POST (the record is made) and holds its reply past the source's timeout; a GET of
    # the same path, not matching the fault's method, is served at once meanwhile.
    running = simulators.running["cloudbilling"]
    blocks = [{**block, "cache_ttl": 0} | (
        {"timeout": TIMEOUT, "retries": 0} if block["kind"] == "cloudbilling" else {})
        for block in simulators.source_blocks()]
    async with open_gateway(create_app(parse_config({"sources": blocks}, {}))) as gateway:
        name, input, route = await creating(gateway, "cloudbilling")
        input = {**input, "idempotencyKey": "late-fault"}
        zero_counts(simulators)
        sim_control(running, "POST", "/_sim/faults",
                    {"mode": "late", "method": "POST", "path": "/invoices", "hold": HOLD})
        assert await first_id(gateway, "invoices", "cloud")
        body = await mutate_raw(gateway, name, input)
        assert body["errors"][0]["extensions"]["code"] == "WRITE_OUTCOME_UNKNOWN"
        assert body["errors"][0]["extensions"]["cause"] == "UPSTREAM_TIMEOUT"
        await asyncio.sleep(HOLD)
        first = made(await written(gateway, name, input))
        assert first == made(await written(gateway, name, input))
        assert upstream_writes(simulators, "cloudbilling") == {route: 1}
