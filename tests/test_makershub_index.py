"""MakersHub in lists: the index of seen ids in the state store, paged like any source,
fed by lookups and webhook events, surviving a restart, seeded by `backfill`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gateway.events.backfill import backfill
from gateway.state.open import open_state
from tests.conftest import gateway_app, makershub_delivery, open_gateway

PAGE = """
query($first: Int, $after: String, $filter: InvoiceFilter) {
  invoices(first: $first, after: $after, filter: $filter) {
    pageInfo { hasNextPage endCursor }
    edges { node { source remoteId groupedInvoices { remoteId } } }
  }
}"""


async def page_through(gateway, first, filter=None):
    nodes, after = [], None
    for _ in range(1000):
        data = await gateway.data(PAGE, {"first": first, "after": after, "filter": filter})
        nodes += [edge["node"] for edge in data["invoices"]["edges"]]
        if not data["invoices"]["pageInfo"]["hasNextPage"]:
            return nodes
        after = data["invoices"]["pageInfo"]["endCursor"]
    raise AssertionError("paging did not end")


def sim_range(simulators):
    known = [int(i) for i in simulators.running["makershub"].simulator.remote_ids("invoices")]
    return range(min(known), max(known) + 1)


@pytest.mark.parametrize("first", [1, 7, 25, 60])
async def test_paging_lists_every_indexed_invoice_once_in_id_order(make_gateway, simulators,
                                                                     first):
    gateway = await make_gateway(cache_ttl=60)
    await backfill(gateway.app.state.adapters["ap"], sim_range(simulators))
    sim = simulators.running["makershub"].simulator
    nodes = await page_through(gateway, first, {"sources": ["ap"]})
    ids = [node["remoteId"] for node in nodes]
    assert ids == sim.listed_ids("invoices"), "each once, in id order"
    groups = {node["remoteId"]: node for node in nodes if node["groupedInvoices"]}
    assert sorted(groups) == sim.group_ids(), "a group is listed once, as itself"
    children = {child["remoteId"] for node in groups.values()
                for child in node["groupedInvoices"]}
    assert children and not children & set(ids), "its children are not listed on their own"


async def test_makershub_comes_first_in_the_unified_list(make_gateway, simulators):
    gateway = await make_gateway(cache_ttl=60)
    await backfill(gateway.app.state.adapters["ap"], sim_range(simulators))
    nodes = await page_through(gateway, 50)
    keys = [(node["source"], node["remoteId"]) for node in nodes]
    assert len(keys) == len(set(keys))
    ap = [rid for source, rid in keys if source == "ap"]
    assert ap == simulators.running["makershub"].simulator.listed_ids("invoices")
    assert keys[: len(ap)] == [("ap", rid) for rid in ap], "configuration order: ap first"
    payable = await page_through(gateway, 50, {"type": "RECEIVABLE", "sources": ["ap"]})
    assert payable == [], "MakersHub bills are all payables"


async def test_lookups_and_events_feed_the_index_and_it_survives_a_restart(
    simulators, tmp_path: Path
):
    sim = simulators.running["makershub"].simulator
    group = sim.group_ids()[0]
    child = str(sim.groups[int(group)][0])
    plain = sim.listed_ids("invoices")[0]
    top = {"state": f"sqlite:///{tmp_path / 'state.sqlite3'}"}
    async with open_gateway(gateway_app(simulators, top, webhook_secret="s")) as gateway:
        for remote_id in (plain, child):
            await gateway.data('query($r: String) { invoice(source: "ap", remoteId: $r) { id } }',
                               {"r": remote_id})
        body, headers = makershub_delivery("s", "Created", int(sim.listed_ids("invoices")[5]))
        assert (await gateway.http.post("/webhooks/ap", content=body,
                                        headers=headers)).status_code == 202
        before = [n["remoteId"] for n in await page_through(gateway, 10, {"sources": ["ap"]})]
    assert before == sorted([plain, group, sim.listed_ids("invoices")[5]], key=int), (
        "a child looked up is indexed as its group")
    async with open_gateway(gateway_app(simulators, top, webhook_secret="s")) as gateway:
        after = [n["remoteId"] for n in await page_through(gateway, 10, {"sources": ["ap"]})]
        assert after == before, "the index is a file that survives a restart"
        body, headers = makershub_delivery("s", "Deleted", int(plain))
        assert (await gateway.http.post("/webhooks/ap", content=body,
                                        headers=headers)).status_code == 202
        assert plain not in [n["remoteId"] for n in await page_through(gateway, 10,
                                                                        {"sources": ["ap"]})]


def run_backfill(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "backfill", "--config", str(config), *args],
        capture_output=True, text=True, timeout=120,
    )


def write_config(simulators, tmp_path: Path, **overrides) -> Path:
    blocks = [{**block, **overrides} if block["kind"] == "makershub" else block
              for block in simulators.source_blocks()]
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump({"sources": blocks}))
    return path


async def test_backfill_command_seeds_the_index_with_progress(simulators, tmp_path: Path):
    config = write_config(simulators, tmp_path)
    ids = sim_range(simulators)
    done = run_backfill(config, "--source", "ap", "--ids", f"{ids[0]}-{ids[-1] + 3}",
                        "--concurrency", "4")
    assert done.returncode == 0, done.stderr
    assert "backfill ap" in done.stderr and f"{len(ids) + 3}/{len(ids) + 3}" in done.stderr
    sim = simulators.running["makershub"].simulator
    found = len(sim.remote_ids("invoices"))  # every id that answers, groups and children too
    missing = len(ids) + 3 - found
    assert f"ap: {found} invoices found and indexed, {missing} ids not found, 0 failed" in (
        done.stderr)
    store = open_state(f"sqlite:///{tmp_path / 'invoice-gateway-state.sqlite3'}")
    indexed = await store.index_page("ap", 0, 10_000)
    await store.close()
    assert [str(i) for i in indexed] == sim.listed_ids("invoices")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "ap", "--ids", "9-3"], "need 1 <= FROM <= TO"),
        (["--source", "ap", "--ids", "abc"], "--ids must be FROM-TO"),
        (["--source", "erp", "--ids", "1-5"],
         "backfill seeds only sources listed from the gateway's index (makershub)"),
        (["--source", "nope", "--ids", "1-5"], "unknown source 'nope'; configured: ap"),
    ],
)
def test_backfill_refuses_bad_arguments(simulators, tmp_path, args, message):
    done = run_backfill(write_config(simulators, tmp_path), *args)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_backfill_stops_at_once_on_a_bad_token(simulators, tmp_path):
    config = write_config(simulators, tmp_path, token="wrong-token")
    done = run_backfill(config, "--source", "ap", "--ids", "48213-48999")
    assert done.returncode == 1
    assert "backfill stopped" in done.stderr and "401" in done.stderr
    assert "wrong-token" not in done.stderr and "Traceback" not in done.stderr


async def test_the_gateways_own_creates_join_the_index(make_gateway):
    gateway = await make_gateway()
    hub, store = gateway.app.state.events, gateway.app.state.store
    subscriber = hub.bus.subscribe()
    from gateway.domain.events import EventOrigin, InvoiceEventType

    event = await hub.publish_write("ap", "48215", InvoiceEventType.CREATED, "createInvoice")
    assert await store.index_page("ap", 0, 10) == [48215]
    got = await anext(subscriber)
    assert (got.id, got.origin, got.type) == (event.id, EventOrigin.GATEWAY,
                                              InvoiceEventType.CREATED)
    await hub.publish_write("ap", "48215", InvoiceEventType.DELETED, "deleteInvoice")
    assert await store.index_page("ap", 0, 10) == []
