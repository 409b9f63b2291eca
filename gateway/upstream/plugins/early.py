"""Early reads: a repeated request's first upstream reads start as soon as it is let in.

Between the moment a GraphQL request is let in (authenticated, its body read) and the moment
its first upstream read leaves, the gateway works through the HTTP stack, the GraphQL
document (parsed and validated documents are cached, but limits, arguments and the query
plan are not free) and the resolvers, down to the loaders. For a cold query whose data is one
upstream page that work is on the critical path, before the round trip it then waits for:
on the peer benchmark's latency bound, about a third of the gateway's own time.

The reads a request makes before any upstream reply has arrived depend on nothing but the
request itself (its document and variables, which its body carries), who sends it, and the
configuration: no upstream data has been seen yet. So the gateway remembers them, per caller
and body, as the request's *plan*; when the same caller sends the same body again, the front
door starts those reads at once, as tasks of that request (its scope, deadline and identity),
and the resolvers, arriving at the same reads later, join them instead of calling again.
The round trip then overlaps the gateway's own work before it.

What stays true:

- Nothing is read that the request would not have read: a plan is what the same caller's same
  body read last time, before seeing any data. A read the request does not ask for after all
  (its plan changed: a write in between made a MakersHub index longer, say) is cancelled when
  the request ends, counted (`invoice_gateway_early_reads_total{outcome="unused"}`) and its plan
  forgotten; the next identical request learns it again.
- Each read goes through the same client path as any other (cache, coalescing, retries,
  breaker, budget, metrics, traces): an early read is only a read started sooner, and its
  failure is the resolver's failure, reported exactly as without it.
- Plans are per caller (the identity's client name) and body (a BLAKE2b digest, so a large
  body is not kept), at most `PLANS` of them, least recently used first out. Writes end the
  learning window: reads after a write depend on it.

A body not seen before gains nothing; a body repeated (a dashboard's refresh, a BI tool's
scheduled pull, a page reloaded) gains the overlap.

An `UpstreamPlugin` (gateway.upstream.plugins), in the app's list only with
`early_reads: true`; a request's plan in the making lives in its scope's `EarlyState` slot.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cachetools import LRUCache

from gateway.upstream.plugins import Admission, Read, UpstreamPlugin
from gateway.upstream.scope import RequestScope, Slot

PLANS = 1024  # remembered plans
LONGEST = 64  # reads in one plan: a larger first wave is not started early


def plan_key(client: str | None, method: str, payload: bytes) -> bytes:
    """The key of a request's plan: its caller, method and body (or query string)."""
    digest = hashlib.blake2b(payload, digest_size=16)
    digest.update(f"\0{method}\0{client or ''}".encode())
    return digest.digest()


@dataclass
class EarlyState:
    """One request's plan in the making: its key, the reads it made before any upstream
    reply arrived, the reads started early for it and not yet joined, and whether a reply
    (or a write) has arrived."""

    plan_key: bytes
    first_reads: list[Read] = field(default_factory=list)
    early: dict[Read, asyncio.Future[Any]] = field(default_factory=dict)
    replied: bool = False


STATE: Slot[EarlyState] = Slot("early reads")


class EarlyReads(UpstreamPlugin):
    """The plans of one app: starting a repeated request's early reads, and learning plans.

    `on_used(source)` counts an early read a resolver joined; `on_unused(source)` one the
    request did not ask for after all."""

    def __init__(self, size: int = PLANS, on_used: Callable[[str], None] | None = None,
                 on_unused: Callable[[str], None] | None = None) -> None:
        self._plans: LRUCache[bytes, tuple[Read, ...]] = LRUCache(size)
        self._on_used = on_used
        self._on_unused = on_unused

    async def request_admitted(self, scope: RequestScope, admission: Admission) -> bool:
        """Begin learning the request's plan, and start the reads it made last time (as
        tasks: they leave at the next turn of the event loop). Whether any was started."""
        key = plan_key(admission.client, admission.method, admission.payload)
        state = scope.fill(STATE, EarlyState(key))
        for read in self._plans.get(key, ()):
            reader = admission.readers.get(read[0])
            if reader is not None:
                state.early[read] = asyncio.ensure_future(reader(read[1], read[2]))
        return bool(state.early)

    def request_finished(self, scope: RequestScope) -> None:
        """At the request's end: forget a plan that read what the request did not ask for
        (cancelling those reads), else keep what the request read first."""
        state = scope.slot(STATE)
        if state is None:
            return
        unused = list(state.early.items())
        for read, task in unused:
            task.cancel()
            task.add_done_callback(_consume)
            if self._on_unused is not None:
                self._on_unused(read[0])
        if unused:
            self._plans.pop(state.plan_key, None)
        elif state.first_reads and len(state.first_reads) <= LONGEST:
            self._plans[state.plan_key] = tuple(dict.fromkeys(state.first_reads))
        del scope.slots[STATE]

    def joined(self, scope: RequestScope, read: Read) -> asyncio.Future[Any] | None:
        """The early read the request started for `read`, if any (taken: each is joined
        once). Notes `read` in the plan being learned while no reply has arrived yet. A read
        with an unhashable parameter value is never planned nor joined."""
        state = scope.slot(STATE)
        if state is None:
            return None
        try:
            hash(read)  # (an empty dict's `pop` would not ask)
        except TypeError:  # an unhashable parameter value
            return None
        started = state.early.pop(read, None)
        # A read started early stays in the plan even where another early read's reply was
        # already in when the resolvers asked for it.
        if not state.replied or started is not None:
            state.first_reads.append(read)
        if started is not None and self._on_used is not None:
            self._on_used(read[0])
        return started

    def replied(self, scope: RequestScope) -> None:
        """An upstream reply (or a write) has arrived for the request: what it reads from now
        on may depend on it, so the plan being learned is complete."""
        state = scope.slot(STATE)
        if state is not None:
            state.replied = True


def _consume(task: asyncio.Future[Any]) -> None:
    """Retrieve a cancelled early read's outcome, so that a failure it met is not reported
    as never retrieved."""
    if not task.cancelled():
        task.exception()
