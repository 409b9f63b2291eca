"""Seeding the MakersHub index of an existing account by probing a range of ids.

MakersHub cannot list, so `invoice-gateway backfill` asks for every id in a range: each
id found joins the index (a child of a group is indexed as its group), ids not found are
skipped. Concurrency is bounded (and the source's own `max_concurrency` bounds it too).
An authentication failure stops the run at once: every other id would fail the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.adapters import Adapter
from gateway.errors import UpstreamError, UpstreamForbidden, UpstreamNotFound, UpstreamUnauthorized

DEFAULT_CONCURRENCY = 8
MAX_IDS = 1_000_000


@dataclass
class BackfillReport:
    found: int = 0
    missing: int = 0
    failures: list[tuple[int, UpstreamError]] = field(default_factory=list)


def parse_range(text: str) -> range:
    """`FROM-TO` (inclusive, ids >= 1) as a range; ValueError with a message otherwise."""
    start, sep, end = text.partition("-")
    if not sep or not start.strip().isdigit() or not end.strip().isdigit():
        raise ValueError(f"--ids must be FROM-TO with two positive integers, got {text!r}")
    first, last = int(start), int(end)
    if first < 1 or last < first:
        raise ValueError(f"--ids {text!r}: need 1 <= FROM <= TO")
    if last - first + 1 > MAX_IDS:
        raise ValueError(f"--ids {text!r}: at most {MAX_IDS} ids per run")
    return range(first, last + 1)


async def backfill(
    adapter: Adapter,
    ids: range,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Callable[[int], object] = lambda done: None,
) -> BackfillReport:
    """Probe every id in `ids` through the adapter (which indexes what it finds)."""
    report = BackfillReport()
    queue = iter(ids)
    fatal: list[UpstreamError] = []

    async def worker() -> None:
        for remote_id in queue:
            if fatal:
                return
            try:
                await adapter.get_invoice(str(remote_id))
                report.found += 1
            except UpstreamNotFound:
                report.missing += 1
            except (UpstreamUnauthorized, UpstreamForbidden) as exc:
                fatal.append(exc)
                return
            except UpstreamError as exc:
                report.failures.append((remote_id, exc))
            progress(1)

    await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    if fatal:
        raise fatal[0]
    return report
