"""A request's loaders let go of what they read as soon as the request has been answered.

Loaders refer to themselves (their batch functions are their own methods), so what they
hold used to wait for a garbage collection: every record and page of every request since
the last one, which made each collection of a busy process longer (issue 18, item 5)."""

from __future__ import annotations

import gc

from gateway.adapters import Page

QUERY = """{ invoices(first: 50, filter: {sources: ["billing"]}) {
  nodes { number customer { name phone } } } }"""


def pages_alive() -> int:
    return sum(1 for item in gc.get_objects() if isinstance(item, Page))


async def test_a_requests_pages_are_freed_without_a_collection(make_gateway):
    gateway = await make_gateway(cache_ttl=0, top={"early_reads": False})
    await gateway.data(QUERY)  # warm: documents, plans, connections
    gc.collect()
    before = pages_alive()
    gc.disable()
    try:
        for _ in range(3):
            await gateway.data(QUERY)
        left = pages_alive() - before
    finally:
        gc.enable()
    assert left == 0, f"{left} upstream pages still held after their requests ended"
