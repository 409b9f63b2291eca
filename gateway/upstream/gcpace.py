"""Garbage collection paced to the moments a serving process only waits on its upstreams.

CPython collects its young generation when allocations outrun deallocations by a threshold,
wherever that happens to fall: in a serving gateway, mostly in the middle of turning an
upstream page into a response, the busiest and most latency-critical moment of a request.
Each request leaves some cyclic garbage behind (graphql-core's executor, the loaders and
their futures form cycles that hold the request's records), so those collections are
frequent; on the peer benchmark's cold query they cost 1.5-2 ms per request, all of it on
the critical path.

A serving process is idle most of a cold request's life, while the upstream works on its
reply. `GcPacer` counts the requests being served and, of those, the ones whose every
unfinished upstream call is in flight; when every request in the process is waiting on an
upstream, it schedules one young collection (an older one where CPython would have chosen
it) for a moment later, and runs it then only if the process is still idle. Automatic
collection stays on as the backstop, with a young generation large enough that a request's
own allocations do not reach it between two idle moments: a process that is never idle
(saturated, or serving only cached answers) collects as before, just in larger batches.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from contextlib import contextmanager

from gateway.upstream.scope import RequestScope

# Young generation of the automatic backstop (CPython's default is 700 allocations).
BACKSTOP = (20_000, 20, 20)
# Fewer surviving young objects than this are not worth a collection.
WORTH_COLLECTING = 5_000
# How long after the last request went idle the collection runs: the upstream call that
# made it idle has then surely left the process (its bytes are written before this fires).
DELAY = 0.001


class GcPacer:
    """Young collections while every request in the process waits on an upstream."""

    def __init__(self) -> None:
        self.enabled = False
        self.serving = 0  # requests being served (not waiting on an upstream)
        self.collections = 0  # paced collections run (for tests and diagnostics)
        self._scheduled = False

    def enable(self) -> None:
        """Pace collections from now on (a serving process, once its app is built)."""
        gc.set_threshold(*BACKSTOP)
        self.enabled = True

    @contextmanager
    def request(self, scope: RequestScope) -> Iterator[None]:
        """Around the serving of one HTTP request, whose upstream calls carry `scope`."""
        scope.paced = True
        self.serving += 1
        try:
            yield
        finally:
            self.serving -= 1

    @contextmanager
    def waiting(self, scope: RequestScope | None) -> Iterator[None]:
        """Around one upstream call's network wait, made for the request of `scope`."""
        if scope is None or not scope.paced:  # not a request's: neither busy nor idle
            yield
            return
        scope.upstream_waits += 1
        if scope.upstream_waits == 1:
            self.serving -= 1
            if self.serving == 0 and self.enabled and not self._scheduled:
                self._schedule()
        try:
            yield
        finally:
            scope.upstream_waits -= 1
            if scope.upstream_waits == 0:
                self.serving += 1

    def _schedule(self) -> None:
        if gc.get_count()[0] < WORTH_COLLECTING:
            return
        self._scheduled = True
        asyncio.get_running_loop().call_later(DELAY, self._collect)

    def _collect(self) -> None:
        self._scheduled = False
        if self.serving == 0:
            self.collections += 1
            gc.collect(due_generation())


def due_generation() -> int:
    """The oldest generation CPython's own policy would collect now (the young one at
    least): a generation is due when more collections of the one below it have run since its
    own last collection than its threshold allows."""
    counts, thresholds = gc.get_count(), gc.get_threshold()
    for generation in (2, 1):
        if counts[generation] >= thresholds[generation]:
            return generation
    return 0


PACER = GcPacer()
