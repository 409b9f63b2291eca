"""The short-lived, process-wide cache of upstream reads, with coalescing and stale copies.

One `ReadCache` per source: a bounded `cachetools.TTLCache` of parsed replies plus a table
of reads in flight, so that concurrent identical reads share one upstream call. Keys are
built by the caller (`SourceClient`) from the source name, a fingerprint of the upstream
credential (token and tenant headers) and the URL, so two credentials or two tenants never
see each other's data.

Entries are kept for `max(ttl, stale_ttl)`: younger than `ttl` they are served as hits;
up to `stale_ttl` old they are served only when a fresh read fails and the caller says the
failure may be papered over (stale-if-error). The interface is deliberately small
(`get_or_fetch`, `clear`) so that a shared backend can stand behind it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Literal

from cachetools import TTLCache

from gateway.support.shared import SharedCalls

Result = Literal["hit", "miss", "stale"]


@dataclass(frozen=True)
class Served:
    """A value and how it was had: `hit` (cache or a shared call), `miss` (our own call)
    or `stale` (an older copy served because the fresh read failed), with its age."""

    value: Any
    result: Result
    age: float = 0.0


def _never(exc: BaseException) -> bool:
    return False


class ReadCache:
    def __init__(
        self,
        ttl: float,
        maxsize: int,
        stale_ttl: float = 0.0,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.stale_ttl = stale_ttl
        self._timer = timer
        keep = max(ttl, stale_ttl)
        self._entries: TTLCache[Hashable, tuple[Any, float]] | None = (
            TTLCache(maxsize=maxsize, ttl=keep, timer=timer) if keep > 0 else None
        )
        self._inflight: SharedCalls[Hashable, Any] = SharedCalls()
        self.hits = 0
        self.misses = 0
        self.coalesced = 0
        self.stale_served = 0

    async def get_or_fetch(
        self,
        key: Hashable,
        fetch: Callable[[], Awaitable[Any]],
        serve_stale: Callable[[BaseException], bool] = _never,
        store: bool = True,
    ) -> Served:
        """The cached value for `key`, or the result of one shared call to `fetch`; when
        that call fails and `serve_stale(error)` allows it, a copy up to `stale_ttl` old.
        `store=False` leaves a fetched value out of the cache (bulk reads)."""
        entry = self._entries.get(key) if self._entries is not None else None
        if entry is not None and self._timer() - entry[1] < self.ttl:
            self.hits += 1
            return Served(entry[0], "hit")
        try:
            return await self._fetch_shared(key, fetch, store)
        except Exception as exc:
            stale = self._stale_copy(key) if serve_stale(exc) else None
            if stale is None:
                raise
            self.stale_served += 1
            return stale

    async def _fetch_shared(
        self, key: Hashable, fetch: Callable[[], Awaitable[Any]], store: bool
    ) -> Served:
        async def fill() -> Any:
            self.misses += 1
            value = await fetch()
            if self._entries is not None and store:
                self._entries[key] = (value, self._timer())
            return value

        # The fetch runs as its own task (gateway.support.shared): a caller that is cancelled stops
        # only its own waiting, never the read the others wait for.
        value, joined = await self._inflight.run(key, fill)
        if joined:
            self.coalesced += 1
            return Served(value, "hit")
        return Served(value, "miss")

    def _stale_copy(self, key: Hashable) -> Served | None:
        if self._entries is None or self.stale_ttl <= 0:
            return None
        entry = self._entries.get(key)
        if entry is None:
            return None
        age = self._timer() - entry[1]
        return Served(entry[0], "stale", age) if age <= self.stale_ttl else None

    def clear(self) -> None:
        """Forget every cached reply (after a write or a webhook for this source)."""
        if self._entries is not None:
            self._entries.clear()
