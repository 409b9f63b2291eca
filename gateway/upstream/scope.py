"""What one request carries down to the upstream calls it causes: its id, its deadline,
and what those calls report back (sources reached, stale copies served).

The scope travels in a `ContextVar`, the standard per-request carrier of asyncio code
(tasks copy the context they are started in, so every upstream call made for a request,
including those in DataLoader batches, sees that request's scope). Threading it through
every adapter method instead would put a transport concern into each upstream's code.
The variable itself holds no data between requests: each request sets its own scope.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Slot(Generic[T]):
    """A key of `RequestScope.slots`, owned by one plug-in: what it holds is of type T.
    Compared by identity, so two plug-ins never share a slot, whatever their names."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name  # for a reader of a debugger, nothing else

    def __repr__(self) -> str:
        return f"Slot({self.name!r})"


@dataclass
class RequestScope:
    """One request's deadline and report. `resilient=False` (readiness probes) asks for one
    honest attempt: no retries and no stale copies. `bulk` (whole-list walks: summaries,
    exports) keeps its pages out of the read cache, so that a walk holds one page at a time
    rather than leaving every page behind as a cached (and stale-if-error) copy."""

    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    deadline: float | None = None  # time.monotonic() by which every upstream call must end
    resilient: bool = True
    bulk: bool = False  # walks whole lists: its pages are not kept in the read cache
    # Reads go to the upstream itself: no cached copy, no stale copy (the change feed's
    # polls, gateway.events.sync: an older copy than the last poll saw would read as changes).
    fresh: bool = False
    client: str | None = None
    operation: str | None = None
    outcome: str | None = None
    sources: set[str] = field(default_factory=set)
    error_codes: set[str] = field(default_factory=set)
    stale: dict[str, float] = field(default_factory=dict)  # source -> oldest age served
    # Tracebacks of unexpected errors while serving it: one field of its JSON log line.
    tracebacks: list[str] = field(default_factory=list)
    # What the upstream plug-ins (gateway.upstream.plugins) keep of this request, each in
    # its own typed slot (`slot`).
    slots: dict[Slot[Any], Any] = field(default_factory=dict)
    # Called when the request has been answered (gateway.web.frontdoor): releases what it held.
    ends: list[Callable[[], None]] = field(default_factory=list)

    def slot(self, key: Slot[T]) -> T | None:
        """What the plug-in owning `key` keeps of this request (None: nothing yet)."""
        value: T | None = self.slots.get(key)
        return value

    def fill(self, key: Slot[T], value: T) -> T:
        """Keep `value` in the slot `key` (replacing what it held); returns it."""
        self.slots[key] = value
        return value

    def at_end(self, release: Callable[[], None]) -> None:
        """Call `release` once the request has been answered (its response sent)."""
        self.ends.append(release)

    def end(self) -> None:
        """Run the `at_end` callbacks (the front door, as the request ends)."""
        ends, self.ends = self.ends, []
        for release in ends:
            release()

    def remaining(self) -> float | None:
        """Seconds left before the deadline (None: no deadline)."""
        return None if self.deadline is None else self.deadline - time.monotonic()

    def served_stale(self, source: str, age: float) -> None:
        self.stale[source] = max(age, self.stale.get(source, 0.0))

    def warnings(self) -> list[dict[str, object]]:
        """The `extensions.warnings` entries of the response (contract: STALE_DATA)."""
        return [
            {"source": source, "code": "STALE_DATA", "ageSeconds": round(age, 1)}
            for source, age in sorted(self.stale.items())
        ]


_CURRENT: ContextVar[RequestScope | None] = ContextVar("invoice_gateway_scope", default=None)


def current_scope() -> RequestScope | None:
    """The scope of the request being served, if any (adapters used alone have none)."""
    return _CURRENT.get()


@contextmanager
def request_scope(scope: RequestScope) -> Iterator[RequestScope]:
    """Make `scope` current for the code (and the tasks it starts) inside the block."""
    token = _CURRENT.set(scope)
    try:
        yield scope
    finally:
        _CURRENT.reset(token)


def mark_bulk() -> None:
    """Mark the current request as walking whole lists (see `RequestScope.bulk`).

    Outside any request (the export command, a test) this starts a scope for the rest of
    the calling context: a walk there is bulk from then on.
    """
    scope = _CURRENT.get()
    if scope is None:
        _CURRENT.set(RequestScope(bulk=True))
    else:
        scope.bulk = True
