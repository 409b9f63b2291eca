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

An `UpstreamPlugin` (gateway.upstream.plugins), built by the app only with
`gc_pacing: true`. It changes process-wide behaviour (the collector's thresholds) only in
`enable`, which the serving command calls once the app is built
(`gateway.cli.main.tune_gc`); a request's count of waiting calls lives in its scope's
`WAITS` slot.
"""

from __future__ import annotations

import asyncio
import gc
from dataclasses import dataclass

from gateway.upstream.plugins import UpstreamPlugin
from gateway.upstream.scope import RequestScope, Slot

# Young generation of the automatic backstop (CPython's default is 700 allocations).
BACKSTOP = (20_000, 20, 20)
# Fewer surviving young objects than this are not worth a collection.
WORTH_COLLECTING = 5_000
# How long after the last request went idle the collection runs: the upstream call that
# made it idle has then surely left the process (its bytes are written before this fires).
DELAY = 0.001


@dataclass
class Waits:
    """One served request's upstream calls now waiting on the network."""

    count: int = 0


WAITS: Slot[Waits] = Slot("gc pacing")


class GcPacer(UpstreamPlugin):
    """Young collections while every request in the process waits on an upstream."""

    def __init__(self) -> None:
        self.enabled = False
        self.serving = 0  # requests being served (not waiting on an upstream)
        self.collections = 0  # paced collections run (for tests and diagnostics)
        self._scheduled = False

    def enable(self) -> None:
        """Pace collections from now on (a serving process, once its app is built): the
        process-wide change, made here only."""
        gc.set_threshold(*BACKSTOP)
        self.enabled = True

    def request_started(self, scope: RequestScope) -> None:
        """An HTTP request whose upstream calls carry `scope` is being served."""
        scope.fill(WAITS, Waits())
        self.serving += 1

    def request_finished(self, scope: RequestScope) -> None:
        waits = scope.slot(WAITS)
        if waits is None:
            return
        del scope.slots[WAITS]
        if waits.count == 0:  # (else it stopped counting as serving when its calls left)
            self.serving -= 1

    def before_call(self, scope: RequestScope | None) -> None:
        """One upstream call of the request of `scope` starts waiting on the network."""
        waits = scope.slot(WAITS) if scope is not None else None
        if waits is None:  # not a served request's call: neither busy nor idle
            return
        waits.count += 1
        if waits.count == 1:
            self.serving -= 1
            if self.serving == 0 and self.enabled and not self._scheduled:
                self._schedule()

    def after_call(self, scope: RequestScope | None) -> None:
        waits = scope.slot(WAITS) if scope is not None else None
        if waits is None:
            return
        waits.count -= 1
        if waits.count == 0:
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
