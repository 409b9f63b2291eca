"""Varied traffic: 40 distinct invoice pages (10, 25 and 50 invoices with their customers)
over 1,000 simulator invoices, as each gateway asks for them.

Hive Gateway's OpenAPI source pages as the upstream does (`page`, `limit`); invoice-gateway
pages with cursors (`first`, `after`), so the cursor before each page's first invoice is
read from invoice-gateway once, by walking the whole list, before any load is generated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

INVOICES = 1000
PAGES = 40
SIZES = (10, 25, 50)

OUR_PAGE = """query($first: Int!, $after: String) {
  invoices(first: $first, after: $after, filter: {sources: ["billing"]}) { nodes {
  remoteId number total { amount currency } customer { remoteId name email } } } }"""
HIVE_PAGE = """{{ listInvoices(limit: "{size}", page: {page}, orderByField: "id", orderBy: asc) {{
  data {{ id invoice_number total currency_id customer {{ data {{ id name email }} }} }} }} }}"""
CURSORS = """query($after: String) {
  invoices(first: 50, after: $after, filter: {sources: ["billing"]}) {
    pageInfo { hasNextPage endCursor } edges { cursor } } }"""


@dataclass(frozen=True)
class PageSpec:
    size: int
    page: int  # 1-based, as Hive (and the upstream) count pages

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


def pages(count: int = PAGES, total: int = INVOICES) -> list[PageSpec]:
    """`count` distinct pages, sizes taken in turn, spread over the first `total` invoices."""
    specs: list[PageSpec] = []
    for index in range(count):
        size = SIZES[index % len(SIZES)]
        specs.append(PageSpec(size, 1 + (index * 7) % (total // size)))
    assert len(set(specs)) == len(specs), "pages must be distinct"
    return specs


def cursors(query: Callable[[str, dict[str, Any]], dict[str, Any]],
            total: int = INVOICES) -> list[str]:
    """invoice-gateway's cursor of each of the first `total` invoices, in list order."""
    found: list[str] = []
    after: str | None = None
    while len(found) < total:
        body = query(CURSORS, {"after": after})
        if "errors" in body:
            raise SystemExit(f"reading cursors: {body['errors']}")
        connection = body["data"]["invoices"]
        found += [edge["cursor"] for edge in connection["edges"]]
        after = connection["pageInfo"]["endCursor"]
        if not connection["pageInfo"]["hasNextPage"]:
            break
    if len(found) < total:
        raise SystemExit(f"varied traffic needs {total} invoices, the list has {len(found)}")
    return found[:total]


def our_payloads(specs: list[PageSpec], by_offset: list[str]) -> list[dict[str, Any]]:
    return [{"query": OUR_PAGE, "variables": {
        "first": spec.size, "after": by_offset[spec.offset - 1] if spec.offset else None}}
        for spec in specs]


def hive_payloads(specs: list[PageSpec]) -> list[dict[str, Any]]:
    return [{"query": HIVE_PAGE.format(size=spec.size, page=spec.page)} for spec in specs]
