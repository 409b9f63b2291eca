"""Issue 19, item 10: one request deadline, source reads in parallel.

Three hanging sources used to make one list query wait for each in turn (10 + 10 + 3 s):
the first pages of a list's sources are now read at once, so they cost one timeout.
"""

from __future__ import annotations

import time

from tests.conftest import sim_control

HANGING = ("makini", "invoicematic", "cloudbilling")
TIMEOUT = 2.0


def hang(simulators, path: str) -> None:
    for kind in HANGING:
        sim_control(simulators.running[kind], "POST", "/_sim/faults",
                    {"mode": "hang", "times": 1000, "path": path})


async def test_three_hanging_sources_cost_one_timeout(make_gateway, simulators):
    gateway = await make_gateway(timeout=TIMEOUT, retries=0)
    hang(simulators, "/invoices")
    started = time.monotonic()
    body = await gateway.query("{ invoices(first: 20) { totalCount nodes { source } } }")
    elapsed = time.monotonic() - started
    assert elapsed < 2 * TIMEOUT, f"took {elapsed:.1f}s: the sources were waited for in turn"
    assert {e["extensions"]["code"] for e in body["errors"]} == {"UPSTREAM_TIMEOUT"}
    assert {e["extensions"]["source"] for e in body["errors"]} == {"erp", "billing", "cloud"}
    assert body["data"]["invoices"]["totalCount"] is None


async def test_the_request_deadline_bounds_every_source_together(make_gateway, simulators):
    # Sources allowed 30 s each; the request's own deadline (3 s) ends them all.
    gateway = await make_gateway(timeout=30, retries=0, top={"request_timeout": 3})
    hang(simulators, "/invoices")
    started = time.monotonic()
    body = await gateway.query("{ invoices(first: 5) { nodes { source } } }")
    elapsed = time.monotonic() - started
    assert elapsed < 5, f"took {elapsed:.1f}s"
    assert {e["extensions"]["code"] for e in body["errors"]} == {"UPSTREAM_TIMEOUT"}
