"""Laravel's length-aware paginator envelope, which Makini and Invoicematic both answer with.

`{"data": [...], "links": {first, last, prev, next}, "meta": {current_page, from, last_page,
[path,] per_page, to, total}}`; links carry only `?page=N`, as a default paginator's do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from starlette.requests import Request


def paginate(
    request: Request,
    rows: Sequence[Any],
    page: int,
    per_page: int,
    *,
    with_path: bool = False,
    render: Callable[[Any], Any] = lambda row: row,
) -> dict[str, Any]:
    """Page `page` (1-based) of `rows`, `per_page` a page (0 means all rows on one page)."""
    total = len(rows)
    last_page = max(1, -(-total // per_page)) if per_page else 1
    chunk = rows[(page - 1) * per_page : page * per_page] if per_page else rows
    path = str(request.url.replace(query=""))
    first = (page - 1) * per_page + 1 if chunk else None

    def link(number: int) -> str:
        return f"{path}?page={number}"

    meta: dict[str, Any] = {
        "current_page": page,
        "from": first,
        "last_page": last_page,
        **({"path": path} if with_path else {}),
        "per_page": per_page,
        "to": first + len(chunk) - 1 if first is not None else None,
        "total": total,
    }
    return {
        "data": [render(row) for row in chunk],
        "links": {
            "first": link(1),
            "last": link(last_page),
            "prev": link(page - 1) if page > 1 else None,
            "next": link(page + 1) if page < last_page else None,
        },
        "meta": meta,
    }
