"""Connections (`resolvers.connections`, and the customer, vendor and payment lists of
`resolvers.lists`): `pageInfo`'s four fields, `edges` and `nodes` agreeing, `totalCount`.
Run through the schema (`schema.execute`) with a real context over the simulators.

Elsewhere: paging whole lists to the end (tests/test_gateway_lists.py,
test_paging_returns_every_invoice_exactly_once_in_stable_order and
test_other_connections_page_completely), totalCount null when a source fails
(tests/test_gateway_faults.py), cursors themselves (tests/test_paging.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from gateway.adapters import Adapter
from resolvers.context import Context
from resolvers.schema import schema

PAGE = """query($first: Int, $after: String) {
  %s(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id } }
    nodes { id }
  }
}"""


@pytest.fixture
def adapters(make_adapter) -> dict[str, Adapter]:
    made = [make_adapter(kind) for kind in ("makini", "invoicematic", "cloudbilling")]
    return {adapter.name: adapter for adapter in made}


async def page(adapters, field: str, first: int | None, after: str | None = None) -> Any:
    result = await schema.execute(PAGE % field, {"first": first, "after": after},
                                  context_value=Context(adapters))
    assert result.errors is None, result.errors
    assert result.data is not None
    return result.data[field]


@pytest.mark.parametrize("field", ["invoices", "customers", "vendors", "payments"])
async def test_page_info_of_the_first_a_middle_and_the_last_page(adapters, field):
    first = await page(adapters, field, 3)
    cursors = [edge["cursor"] for edge in first["edges"]]
    assert len(cursors) == 3 and len(set(cursors)) == 3
    assert first["nodes"] == [edge["node"] for edge in first["edges"]]
    assert first["pageInfo"] == {"hasNextPage": True, "hasPreviousPage": False,
                                 "startCursor": cursors[0], "endCursor": cursors[-1]}

    middle = await page(adapters, field, 3, first["pageInfo"]["endCursor"])
    info = middle["pageInfo"]
    assert info["hasPreviousPage"] is True and info["hasNextPage"] is True
    assert info["startCursor"] == middle["edges"][0]["cursor"]
    assert info["endCursor"] == middle["edges"][-1]["cursor"]
    assert not {n["id"] for n in middle["nodes"]} & {n["id"] for n in first["nodes"]}

    total = first["totalCount"]
    assert total is not None and total > 6 and middle["totalCount"] == total
    whole = await page(adapters, field, 500)
    assert len(whole["nodes"]) == total, "totalCount is the length of the whole list"
    last = await page(adapters, field, 3, whole["edges"][-4]["cursor"])
    assert last["nodes"] == whole["nodes"][-3:]
    assert last["pageInfo"]["hasNextPage"] is False
    assert last["pageInfo"]["endCursor"] == whole["edges"][-1]["cursor"]


async def test_an_empty_page_keeps_the_cursor_to_continue_from(adapters):
    nothing = await page(adapters, "invoices", 0)
    assert nothing["edges"] == [] and nothing["nodes"] == []
    assert nothing["pageInfo"] == {"hasNextPage": True, "hasPreviousPage": False,
                                   "startCursor": None, "endCursor": None}

    first = await page(adapters, "invoices", 2)
    after = first["pageInfo"]["endCursor"]
    paused = await page(adapters, "invoices", 0, after)
    assert paused["pageInfo"] == {"hasNextPage": True, "hasPreviousPage": True,
                                  "startCursor": None, "endCursor": after}
    resumed = await page(adapters, "invoices", 2, paused["pageInfo"]["endCursor"])
    assert resumed["nodes"] == (await page(adapters, "invoices", 4))["nodes"][2:]

    whole = await page(adapters, "invoices", 500)
    end = whole["pageInfo"]["endCursor"]
    past = await page(adapters, "invoices", 5, end)
    assert past["edges"] == []
    assert past["pageInfo"] == {"hasNextPage": False, "hasPreviousPage": True,
                                "startCursor": None, "endCursor": end}

