"""The short-lived, process-wide cache of upstream reads, with coalescing.

One `ReadCache` per source: a bounded `cachetools.TTLCache` of parsed replies plus a table
of reads in flight, so that concurrent identical reads share one upstream call. Keys
include a fingerprint of the credential, so two callers with different tokens never see
each other's data.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from cachetools import TTLCache


class ReadCache:
    def __init__(
        self, ttl: float, maxsize: int, timer: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self._entries: TTLCache[Hashable, Any] | None = (
            TTLCache(maxsize=maxsize, ttl=ttl, timer=timer) if ttl > 0 else None
        )
        self._inflight: dict[Hashable, asyncio.Future[Any]] = {}
        self.hits = 0
        self.misses = 0
        self.coalesced = 0

    async def get_or_fetch(self, key: Hashable, fetch: Callable[[], Awaitable[Any]]) -> Any:
        """The cached value for `key`, or the result of one shared call to `fetch`."""
        if self._entries is not None:
            try:
                value = self._entries[key]
            except KeyError:
                pass
            else:
                self.hits += 1
                return value
        pending = self._inflight.get(key)
        if pending is not None:
            self.coalesced += 1
            return await asyncio.shield(pending)
        self.misses += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            value = await fetch()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters (if any) re-raise it themselves
            raise
        else:
            future.set_result(value)
            if self._entries is not None:
                self._entries[key] = value
            return value
        finally:
            del self._inflight[key]

    def clear(self) -> None:
        """Forget every cached reply (after a write or a webhook for this source)."""
        if self._entries is not None:
            self._entries.clear()
