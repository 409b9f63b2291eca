"""`invoiceChanges` (docs/changes.md): a webhook's, a gateway write's and a poll's changes in
one durable feed, replayed in order after a restart (SQLite) and on another replica
(PostgreSQL), resumed from a cursor, pruned after the retention (CURSOR_EXPIRED), with
deletions, and each change once however often it is reported."""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest

from tests.conftest import invoicematic_delivery, open_gateway, sim_control
from tests.test_writes_cloudbilling import draft
from tests.tools import postgres_schema
from tests.writing import written

pytestmark = pytest.mark.usefixtures("fresh_simulators")

SECRET = "whsec-feed"
FEED = """query($first: Int, $after: String) {
  invoiceChanges(first: $first, after: $after) {
    nodes { id type invoiceId source remoteId at origin }
    edges { cursor }
    pageInfo { hasNextPage endCursor }
  }
}"""


def _app(simulators, state: str, sync_interval: float = 3600,
         polled: tuple[str, ...] = ("cloudbilling",), **top: Any) -> Any:
    """A gateway whose Cloud Billing source is polled (once an hour: the tests poll by
    hand, through the very poller the background task runs) and whose Invoicematic source
    takes signed webhooks."""
    from gateway.app import create_app
    from gateway.config import parse_config

    blocks = []
    for block in simulators.source_blocks():
        block = {**block, "cache_ttl": 0}
        if block["kind"] in polled:
            block["sync_interval"] = sync_interval
        if block["kind"] == "invoicematic":
            block["webhook_secret"] = SECRET
        blocks.append(block)
    return create_app(parse_config({"sources": blocks, "state": state, **top}, {}))


async def started(gateway) -> Any:
    """The gateway once its first poll of Cloud Billing (the picture later polls compare
    with) is in the store."""
    store = gateway.app.state.changes.store
    for _ in range(200):
        if await store.sync_seen("cloud") is not None:
            return gateway
        await asyncio.sleep(0.02)
    raise AssertionError("the first poll of cloud never finished")


async def read_feed(gateway, after: str | None = None, first: int = 500) -> tuple[list, Any]:
    data = await gateway.data(FEED, {"first": first, "after": after})
    return data["invoiceChanges"]["nodes"], data["invoiceChanges"]["pageInfo"]


def summary(nodes: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    return [(node["origin"], node["type"], node["source"], node["remoteId"]) for node in nodes]


class Cloud:
    """Cloud Billing changed behind the gateway's back: straight to the simulator."""

    def __init__(self, simulators) -> None:
        block = simulators.running["cloudbilling"].source_block()
        self.http = httpx.Client(base_url=block["base_url"], timeout=5, headers={
            "Authorization": f"Bearer {block['token']}", "x-tenant-slug": block["tenant_slug"]})

    def create_draft(self) -> str:
        customer = self.http.get("/customers").json()["data"][0]["id"]
        made = self.http.post("/invoices", json={
            "customer_id": customer, "status": "draft", "description": "Polled work",
            "quantity": 1, "unit_price": 10})
        made.raise_for_status()
        return str(made.json()["data"]["id"])

    def update(self, remote_id: str) -> None:
        self.http.patch(f"/invoices/{remote_id}", json={"quantity": 3}).raise_for_status()

    def delete(self, remote_id: str) -> None:
        self.http.delete(f"/invoices/{remote_id}").raise_for_status()


async def webhook(gateway, event: str, invoice_id: int) -> tuple[bytes, dict[str, str]]:
    body, headers = invoicematic_delivery(SECRET, event, {"id": invoice_id})
    response = await gateway.http.post("/webhooks/billing", content=body, headers=headers)
    assert response.status_code == 202, response.text
    return body, headers


async def make_changes(gateway, simulators) -> list[tuple[str, str, str, str]]:
    """A webhook's, the gateway's and a poll's changes, interleaved, deletions included;
    returns what the feed must hold, in order."""
    cloud = Cloud(simulators)
    poller = gateway.app.state.pollers["cloud"]
    expected = []
    await webhook(gateway, "invoice.paid", 1)
    expected.append(("WEBHOOK", "PAID", "billing", "1"))
    invoice = await draft(gateway)
    expected.append(("GATEWAY", "CREATED", "cloud", invoice["remoteId"]))
    polled = cloud.create_draft()
    assert await poller.poll() == 1, "the gateway's own create is not found again"
    expected.append(("SYNC", "CREATED", "cloud", polled))
    updated = await written(gateway, "updateInvoice", {
        "id": invoice["id"], "version": invoice["version"],
        "lineItems": [{"description": "Consulting", "quantity": "3", "unitPrice": "100"}]})
    expected.append(("GATEWAY", "UPDATED", "cloud", invoice["remoteId"]))
    cloud.update(polled)
    await webhook(gateway, "invoice.deleted", 2)
    expected.append(("WEBHOOK", "DELETED", "billing", "2"))
    assert await poller.poll() == 1, "the gateway's update (same version) is not found again"
    expected.append(("SYNC", "UPDATED", "cloud", polled))
    await written(gateway, "deleteInvoice", {"id": updated["invoice"]["id"]})
    expected.append(("GATEWAY", "DELETED", "cloud", invoice["remoteId"]))
    cloud.delete(polled)
    assert await poller.poll() == 1, "the gateway's delete is not found again"
    expected.append(("SYNC", "DELETED", "cloud", polled))
    return expected


async def test_the_feed_replays_in_order_after_a_restart_and_resumes_from_a_cursor(
    simulators, tmp_path
):
    state = f"sqlite:///{tmp_path / 'state.sqlite3'}"
    async with open_gateway(_app(simulators, state)) as first:
        expected = await make_changes(await started(first), simulators)
        nodes, info = await read_feed(first)
        assert summary(nodes) == expected
        assert not info["hasNextPage"]
        head, head_info = await read_feed(first, first=3)
        assert head_info["hasNextPage"] and summary(head) == expected[:3]
    # A new process over the same state file: the same feed, and the cursor resumes it.
    async with open_gateway(_app(simulators, state)) as second:
        again, _ = await read_feed(second)
        assert again == nodes
        rest, rest_info = await read_feed(second, after=head_info["endCursor"])
        assert summary(rest) == expected[3:]
        assert rest_info["endCursor"] == info["endCursor"]
        assert (await read_feed(second, after=info["endCursor"]))[0] == []
    node = nodes[0]
    assert node["at"].endswith("Z") and node["invoiceId"] and node["id"]


async def test_replicas_sharing_postgresql_see_one_feed(simulators):
    with postgres_schema() as url:
        async with AsyncExitStack() as stack:
            one = await started(await stack.enter_async_context(open_gateway(
                _app(simulators, url))))
            two = await stack.enter_async_context(open_gateway(_app(simulators, url)))
            half = (await read_feed(one))[0]
            expected = await make_changes(one, simulators)
            await webhook(two, "invoice.updated", 3)  # the second replica records too
            expected.append(("WEBHOOK", "UPDATED", "billing", "3"))
            nodes, _ = await read_feed(two)
            assert summary(nodes) == summary(half) + expected
            head, info = await read_feed(one, first=4)
            rest, _ = await read_feed(two, after=info["endCursor"])
            assert head + rest == nodes


async def test_a_cursor_older_than_the_retention_is_expired(simulators):
    async with open_gateway(_app(simulators, "sqlite:///:memory:",
                                 changes_retention_days=2)) as gateway:
        feed = gateway.app.state.changes
        now = time.time()
        feed.clock = lambda: now
        await webhook(gateway, "invoice.updated", 1)
        first, first_info = await read_feed(gateway)
        await webhook(gateway, "invoice.updated", 2)
        _, newest = await read_feed(gateway)
        feed.clock = lambda: now + 1 * 86400
        assert await feed.prune() == 0, "younger than the retention: kept"
        feed.clock = lambda: now + 3 * 86400
        assert await feed.prune() == 2
        body = await gateway.query(FEED, {"after": first_info["endCursor"]})
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == "CURSOR_EXPIRED"
        assert "retention (2 days)" in body["errors"][0]["message"]
        # Nothing after the newest cursor was lost: it goes on, as does a reader without one.
        assert (await read_feed(gateway, after=newest["endCursor"]))[0] == []
        await webhook(gateway, "invoice.updated", 4)
        assert summary((await read_feed(gateway, after=newest["endCursor"]))[0]) == [
            ("WEBHOOK", "UPDATED", "billing", "4")]
        assert len((await read_feed(gateway))[0]) == 1
        assert first  # the first change existed before pruning


async def test_a_redelivered_webhook_is_one_change(simulators):
    async with open_gateway(_app(simulators, "sqlite:///:memory:")) as gateway:
        body, headers = await webhook(gateway, "invoice.updated", 5)
        again = await gateway.http.post("/webhooks/billing", content=body, headers=headers)
        assert again.status_code == 200 and again.json() == {"duplicate": True}
        # The same body under a new delivery id (a sender that renumbers its retries).
        renumbered = {**headers, "X-Webhook-Delivery-Id": "another-delivery"}
        third = await gateway.http.post("/webhooks/billing", content=body, headers=renumbered)
        assert third.status_code == 200
        nodes, _ = await read_feed(gateway)
        assert summary(nodes) == [("WEBHOOK", "UPDATED", "billing", "5")]


async def test_a_state_store_outage_loses_no_webhook_change_and_fails_no_write(simulators):
    from tests.own_postgres import OwnPostgres

    postgres = OwnPostgres()
    postgres.start()
    try:
        app = _app(simulators, postgres.url, state_timeout=1)
        async with open_gateway(app) as gateway:
            await started(gateway)
            invoice = await draft(gateway)
            poller = gateway.app.state.pollers["cloud"]
            assert await poller.poll() == 0, "the gateway's create is not found again"
            postgres.stop()
            body = await gateway.query(FEED, {})
            assert body["errors"][0]["extensions"]["code"] == "STATE_UNAVAILABLE"
            delivery, headers = invoicematic_delivery(SECRET, "invoice.sent", {"id": 7})
            refused = await gateway.http.post("/webhooks/billing", content=delivery,
                                              headers=headers)
            assert refused.status_code == 503 and refused.headers["retry-after"]
            # A write whose change cannot be recorded is still made and answered.
            await written(gateway, "updateInvoice", {
                "id": invoice["id"], "version": invoice["version"],
                "lineItems": [{"description": "Late fee", "quantity": "1", "unitPrice": "5"}]})
            postgres.start()
            again = await gateway.http.post("/webhooks/billing", content=delivery,
                                            headers=headers)
            assert again.status_code == 202
            # The next poll finds the update whose GATEWAY change was lost.
            assert await poller.poll() == 1
            nodes, _ = await read_feed(gateway)
            assert summary(nodes) == [
                ("GATEWAY", "CREATED", "cloud", invoice["remoteId"]),
                ("WEBHOOK", "UPDATED", "billing", "7"),
                ("SYNC", "UPDATED", "cloud", invoice["remoteId"]),
            ]
    finally:
        postgres.remove()


async def test_the_background_poller_survives_an_upstream_failure(simulators, caplog):
    async with open_gateway(_app(simulators, "sqlite:///:memory:", sync_interval=1)) as gateway:
        await started(gateway)
        polled = Cloud(simulators).create_draft()
        # The next poll (a second after the first) fails, every attempt of its read; the
        # one after it finds the draft.
        sim_control(simulators.running["cloudbilling"], "POST", "/_sim/faults",
                    {"mode": 500, "times": 3, "path": "/invoices"})
        for _ in range(100):
            nodes, _ = await read_feed(gateway)
            if nodes:
                break
            await asyncio.sleep(0.05)
        assert summary(nodes) == [("SYNC", "CREATED", "cloud", polled)]
        assert any("sync cloud failed" in record.message for record in caplog.records)


async def test_a_change_reported_by_webhook_or_gateway_is_not_found_again_by_a_poll(
    simulators
):
    """Invoicematic sends webhooks and is polled here as well: a gateway write, its webhook
    echo and the poll after them are one change; so are an upstream change, its webhook
    and the poll after them."""
    from tests.test_writes_invoicematic import create

    app = _app(simulators, "sqlite:///:memory:", polled=("invoicematic",))
    async with open_gateway(app) as gateway:
        store = gateway.app.state.changes.store
        for _ in range(200):
            if await store.sync_seen("billing") is not None:
                break
            await asyncio.sleep(0.02)
        poller = gateway.app.state.pollers["billing"]
        invoice = await create(gateway, number="INV-FEED-1")
        assert await poller.poll() == 0, "the gateway's create is not found again"
        await written(gateway, "updateInvoice", {
            "id": invoice["id"], "version": invoice["version"], "dueDate": "2027-01-31"})
        # Invoicematic's own webhook for that write: the echo, absorbed.
        delivery, headers = invoicematic_delivery(
            SECRET, "invoice.updated", {"id": int(invoice["remoteId"])})
        echo = await gateway.http.post("/webhooks/billing", content=delivery, headers=headers)
        assert echo.status_code == 202 and echo.json()["published"] == 0
        assert await poller.poll() == 0, "the gateway's update (same version) is not found again"
        # A payment made in Invoicematic itself, and the webhook it sends.
        paid = Invoicematic(simulators).pay_part_of_an_invoice(other_than=invoice["remoteId"])
        await webhook(gateway, "invoice.updated", int(paid))
        assert await poller.poll() == 0, "the webhook's update is not found again"
        nodes, _ = await read_feed(gateway)
        assert summary(nodes) == [("GATEWAY", "CREATED", "billing", invoice["remoteId"]),
                                  ("GATEWAY", "UPDATED", "billing", invoice["remoteId"]),
                                  ("WEBHOOK", "UPDATED", "billing", paid)]


class Invoicematic:
    """Invoicematic changed behind the gateway's back: straight to the simulator."""

    def __init__(self, simulators) -> None:
        block = simulators.running["invoicematic"].source_block()
        self.http = httpx.Client(base_url=block["base_url"], timeout=5, headers={
            "Authorization": f"Bearer {block['token']}", "Accept": "application/json"})

    def pay_part_of_an_invoice(self, other_than: str) -> str:
        invoices = self.http.get("/api/invoices", params={"limit": "all"}).json()["data"]
        invoice = next(i for i in invoices if i["due_amount"] > 1000
                       and str(i["id"]) != other_than)
        self.http.post("/api/payments", json={
            "payment_date": "2026-11-05", "customer_id": invoice["customer_id"],
            "amount": 100, "payment_number": "PAY-FEED-1", "invoice_id": invoice["id"],
        }).raise_for_status()
        return str(invoice["id"])


async def test_a_client_sees_the_changes_of_its_own_sources_only(simulators):
    clients = [{"name": "bi-billing", "key": "bi-billing-key-0001", "sources": ["billing"]},
               {"name": "bi-all", "key": "bi-all-key-00000001"}]
    async with open_gateway(_app(simulators, "sqlite:///:memory:", clients=clients)) as gateway:
        await webhook(gateway, "invoice.updated", 1)
        await started(gateway)
        polled = Cloud(simulators).create_draft()
        await gateway.app.state.pollers["cloud"].poll()
        await webhook(gateway, "invoice.updated", 2)

        async def seen(key: str, after: str | None = None) -> tuple[list, Any]:
            data = await gateway.data(FEED, {"first": 1, "after": after},
                                      headers={"Authorization": f"Bearer {key}"})
            return data["invoiceChanges"]["nodes"], data["invoiceChanges"]["pageInfo"]

        first, info = await seen("bi-billing-key-0001")
        rest, _ = await seen("bi-billing-key-0001", info["endCursor"])
        assert summary(first + rest) == [("WEBHOOK", "UPDATED", "billing", "1"),
                                         ("WEBHOOK", "UPDATED", "billing", "2")]
        everything = []
        after = None
        for _ in range(3):
            page, info = await seen("bi-all-key-00000001", after)
            everything += page
            after = info["endCursor"]
        assert summary(everything) == [("WEBHOOK", "UPDATED", "billing", "1"),
                                       ("SYNC", "CREATED", "cloud", polled),
                                       ("WEBHOOK", "UPDATED", "billing", "2")]
        assert not info["hasNextPage"]
