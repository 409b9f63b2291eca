"""Work shared between requests, which no single request can cancel.

A read several requests wait for (a coalesced upstream read, the Redis wait behind it, a
cache fill, a customer list read once per request and joined by each of its lists) used to
run inside the first caller: when that caller was cancelled (its client went away, its
deadline passed, an early read it did not use was dropped), the `CancelledError` reached
every other caller, which was not cancelled at all and answered HTTP 500.

Here the shared work runs as its own task. Each caller waits for it through `SharedCall.wait`
(an `asyncio.shield`, counted): a cancelled caller stops only its own waiting; the task is
cancelled only when its last waiter has left before it completed. A call that was cancelled
from outside while others still waited is started again for them, never reported to them
as their own cancellation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Hashable
from functools import partial
from typing import Any, Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


class SharedCall(Generic[T]):
    """One piece of work as its own task, with a count of the callers waiting for it."""

    __slots__ = ("task", "waiters")

    def __init__(self, work: Coroutine[Any, Any, T]) -> None:
        self.task: asyncio.Task[T] = asyncio.get_running_loop().create_task(work)
        self.waiters = 0

    @property
    def abandoned(self) -> bool:
        """Cancelled (every waiter left, or cancelled from outside): not to be joined."""
        return self.task.cancelled() or (not self.task.done() and self.task.cancelling() > 0)

    async def wait(self) -> T:
        """The work's result (or its exception). Cancelling the caller stops only this
        waiting; the work is cancelled when no waiter is left and it has not completed."""
        self.waiters += 1
        try:
            return await asyncio.shield(self.task)
        finally:
            self.waiters -= 1
            if self.waiters == 0 and not self.task.done():
                self.abandon()

    def abandon(self) -> None:
        """Cancel the work (nobody waits for it any more); from now on it is `abandoned`."""
        self.task.cancel()


class SharedCalls(Generic[K, T]):
    """Calls shared by key: a caller of a key already being worked on joins that work."""

    def __init__(self) -> None:
        self._calls: dict[K, SharedCall[T]] = {}

    def __len__(self) -> int:
        return len(self._calls)

    def __contains__(self, key: object) -> bool:
        return key in self._calls

    async def run(self, key: K, start: Callable[[], Coroutine[Any, Any, T]]) -> tuple[T, bool]:
        """The result of the work for `key`, and whether this caller joined work another
        caller had started (False: it was started by this call, with `start()`)."""
        joined = True
        while True:
            call = self._calls.get(key)
            if call is None or call.abandoned:
                call = self._start(key, start)
                joined = False
            try:
                return await call.wait(), joined
            except asyncio.CancelledError:
                if call.task.cancelled() and not _cancelling():
                    continue  # ended from outside, not by this caller: start it again
                raise

    def _start(self, key: K, start: Callable[[], Coroutine[Any, Any, T]]) -> SharedCall[T]:
        call = SharedCall(start())
        # No reference from the call back to itself (a cycle would keep its result, a whole
        # upstream page, alive until the next garbage collection).
        call.task.add_done_callback(partial(self._forget, key, call))
        self._calls[key] = call
        return call

    def _forget(self, key: K, call: SharedCall[T], _: object) -> None:
        if self._calls.get(key) is call:
            del self._calls[key]


def _cancelling() -> bool:
    """Whether the running task is being cancelled (its own cancellation, not a shared
    call's)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
