"""The shared conformance suite: every adapter against its simulator, over real HTTP."""

from __future__ import annotations

import pytest

from gateway.adapters import Capability
from gateway.adapters.base import read_all_pages
from gateway.domain.records import InvoiceQuery
from gateway.errors import (
    UpstreamBadResponse,
    UpstreamError,
    UpstreamNotFound,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnauthorized,
    UpstreamUnavailable,
)
from gateway.events.backfill import backfill
from gateway.registry import KINDS as REGISTRY
from gateway.state.open import open_state
from tests.conftest import sim_control

KINDS = list(REGISTRY)

FAULTS: list[tuple[str, type[UpstreamError], int | None]] = [
    ("500", UpstreamUnavailable, 500),
    ("503", UpstreamUnavailable, 503),
    ("429", UpstreamRateLimited, 429),
    ("malformed", UpstreamBadResponse, 200),
    ("drop", UpstreamUnavailable, None),
    ("hang", UpstreamTimeout, None),
]


@pytest.mark.parametrize("kind", KINDS)
async def test_lists_every_page_exactly_once(kind, make_adapter, simulators):
    store = open_state("sqlite:///:memory:")
    adapter = make_adapter(kind, state=store)
    sim = simulators.running[kind].simulator
    assert Capability.LIST_INVOICES in adapter.capabilities
    if kind == "makershub":  # no list endpoint: it lists the index a backfill seeds
        known = [int(remote_id) for remote_id in sim.remote_ids("invoices")]
        await backfill(adapter, range(min(known), max(known) + 1))
    first = await adapter.list_invoices(InvoiceQuery(), 0)
    assert first.has_more, "seeded data spans several pages"
    invoices = await read_all_pages(lambda page: adapter.list_invoices(InvoiceQuery(), page))
    ids = [invoice.remote_id for invoice in invoices]
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(sim.listed_ids("invoices"))
    assert first.total in (None, len(ids))
    assert {invoice.source for invoice in invoices} == {adapter.name}
    await store.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_get_by_id_round_trips(kind, make_adapter, simulators):
    adapter = make_adapter(kind)
    sim = simulators.running[kind].simulator
    remote_id = sim.remote_ids("invoices")[3]
    invoice = await adapter.get_invoice(remote_id)
    assert invoice.remote_id == remote_id
    assert invoice.source == adapter.name
    assert invoice.remote_data, "the upstream record is kept as remoteData"
    assert invoice.total is None or invoice.total.currency == invoice.currency


@pytest.mark.parametrize("kind", KINDS)
async def test_unknown_id_is_not_found(kind, make_adapter, simulators):
    adapter = make_adapter(kind)
    missing = simulators.running[kind].simulator.missing_id("invoices")
    with pytest.raises(UpstreamNotFound) as caught:
        await adapter.get_invoice(missing)
    assert caught.value.source == adapter.name
    assert caught.value.status == 404


@pytest.mark.parametrize("kind", KINDS)
async def test_bad_token_is_unauthorized_and_never_echoed(kind, make_adapter, simulators):
    adapter = make_adapter(kind, token="wrong-secret-token")
    remote_id = simulators.running[kind].simulator.remote_ids("invoices")[0]
    with pytest.raises(UpstreamUnauthorized) as caught:
        await adapter.get_invoice(remote_id)
    assert caught.value.status == 401
    assert "wrong-secret-token" not in str(caught.value)
    with pytest.raises(UpstreamUnauthorized):
        await adapter.check()


@pytest.mark.parametrize("kind", KINDS)
async def test_check_passes_with_good_token(kind, make_adapter):
    await make_adapter(kind).check()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("mode", "error", "status"), FAULTS)
async def test_injected_fault_maps_to_code(kind, mode, error, status, make_adapter, simulators):
    running = simulators.running[kind]
    adapter = make_adapter(kind, timeout=0.5)
    remote_id = running.simulator.remote_ids("invoices")[1]
    sim_control(running, "POST", "/_sim/faults", {"mode": mode, "times": 1})
    with pytest.raises(error) as caught:
        await adapter.get_invoice(remote_id)
    assert caught.value.source == adapter.name
    assert caught.value.status == status
    if mode == "429":
        assert caught.value.retry_after == 1
    # the fault was one-shot: the next read succeeds
    assert (await adapter.get_invoice(remote_id)).remote_id == remote_id
