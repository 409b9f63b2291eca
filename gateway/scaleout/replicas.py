"""Replicas sharing one Redis (contract "Scale-out (v2)", top-level `redis_url`).

- `SharedReadCache`: a second cache level behind each source's process-local `ReadCache`.
  A local miss asks Redis before the upstream, and what the upstream answers is stored
  there for the source's `cache_ttl`, so a read cached by one replica is a hit on every
  other. Keys carry the credential fingerprint the local cache uses (per-credential data
  never crosses callers). Dropping a source's cache (a write, a webhook) drops its shared
  entries and tells every replica, over Redis pub/sub, to drop its local copies.
- `RequestBudget`: per source `request_budget` upstream requests per second, counted in one
  Redis counter per second that every replica increments, so N replicas together stay
  within the upstream's limit. A request over budget waits for the next second.
- `SharedIdempotency`: idempotency claims made in Redis first (`SET NX`, 24 hours), written
  through to the state store, so a key used on one replica is honoured on every other even
  when each keeps its own SQLite file; the state store stays the durable copy.
- Fan-out: `ScaleOut.publish(topic, payload)` reaches the handlers other replicas registered
  with `ScaleOut.subscribe(topic, handler)` (Redis pub/sub); the cache drops travel this way
  and an event bus plugs in the same way (publish accepted events, deliver other replicas'
  events to local subscribers).
- Redis failing never fails a request: `RedisLink` turns every Redis error into "not
  available", then skips Redis for `RETRY_AFTER` seconds; meanwhile each replica answers
  from its local cache (and the upstream), counts its budget alone, and shares again once
  Redis answers.

The driver is redis-py's asyncio client (maintained by Redis), with short timeouts and one
immediate retry, so a dead Redis costs one fast failure, not a stall.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, WatchError

from gateway.adapters import Adapter
from gateway.domain.changes import Change, NewChange
from gateway.state.base import IDEMPOTENCY_TTL, Claim, IdempotencyRecord, StateStore
from gateway.upstream.cache import ReadCache

logger = logging.getLogger("invoice_gateway.scaleout")
T = TypeVar("T")

PREFIX = "invoice-gateway"
CACHE_DROP = "cache-drop"
Handler = Callable[[Mapping[str, Any]], None]
REDIS_TIMEOUT = 0.5
# How long a replica waits for another replica's fetch of the same read, and how often it
# looks: a fetch slower than that is made again (the upstream's timeout bounds most reads).
COALESCE_MS = 10_000
COALESCE_POLL = 0.02
RETRY_AFTER = 1.0


class RedisLink:
    """One Redis client with a fallback: `call` answers None while Redis is unavailable."""

    def __init__(self, url: str, replica: str | None = None, prefix: str = PREFIX) -> None:
        self.replica = replica or uuid.uuid4().hex[:12]
        # Every key and channel starts with `prefix` (tests give each run its own).
        self.prefix = prefix
        self.fanout = f"{prefix}:fanout:"
        self.redis: Redis = Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT,
            # One immediate retry replaces a pooled connection that a Redis restart broke.
            retry=Retry(NoBackoff(), 1), health_check_interval=0,
        )
        self._down_until = 0.0
        self.failures = 0

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    async def call(self, operation: Callable[[Redis], Awaitable[T]]) -> T | None:
        """Run one Redis operation; None (and Redis skipped for a while) when it fails."""
        if not self.available:
            return None
        try:
            result = await operation(self.redis)
        except (RedisError, OSError) as exc:
            self.down(exc)
            return None
        if self.failures:
            logger.info("redis reachable again after %d failed calls; sharing resumes",
                        self.failures)
            self.failures = 0
        return result

    def down(self, exc: BaseException) -> None:
        if not self.failures:
            logger.warning("redis unavailable (%s); answering from local state", type(exc).__name__)
        self.failures += 1
        self._down_until = time.monotonic() + RETRY_AFTER

    async def publish(self, topic: str, payload: Mapping[str, Any]) -> bool:
        """Send `payload` to every other replica's `topic` handlers; False without Redis."""
        message = json.dumps({"replica": self.replica, "payload": payload}, default=str)
        sent = await self.call(lambda redis: redis.publish(self.fanout + topic, message))
        return sent is not None

    async def close(self) -> None:
        await self.redis.aclose()


class SharedReadCache(ReadCache):
    """The local `ReadCache`, with Redis as a second level shared by every replica."""

    def __init__(self, local: ReadCache, source: str, link: RedisLink) -> None:
        # Takes over the local cache's settings; the local level keeps working on its own.
        self.__dict__.update(local.__dict__)
        self.source = source
        self.link = link
        self.shared_hits = 0
        self._dropped_at = 0.0
        self._tasks: set[asyncio.Task[None]] = set()

    def shared_key(self, key: Hashable) -> str:
        digest = hashlib.sha256(repr(key).encode()).hexdigest()
        return f"{self.link.prefix}:cache:{self.source}:{digest}"

    async def get_or_fetch(
        self, key: Hashable, fetch: Callable[[], Awaitable[Any]], *args: Any, **kwargs: Any
    ) -> Any:
        if self.ttl <= 0:
            return await super().get_or_fetch(key, fetch, *args, **kwargs)

        async def shared_fetch() -> Any:
            name = self.shared_key(key)
            entry = self._fresh(await self.link.call(lambda redis: redis.get(name)))
            if entry is None:
                entry = self._fresh(await self._await_other_replica(name))
            if entry is not None:
                self.shared_hits += 1
                return entry["value"]
            try:
                value = await fetch()
                encoded = json.dumps({"at": time.time(), "value": value}, separators=(",", ":"))
                await self.link.call(
                    lambda redis: redis.set(name, encoded, px=int(self.ttl * 1000))
                )
            finally:
                await self.link.call(self._unmark(name + ":fetching"))
            return value

        return await super().get_or_fetch(key, shared_fetch, *args, **kwargs)

    def _fresh(self, stored: bytes | str | None) -> dict[str, Any] | None:
        """A stored entry, unless it was stored before this replica last dropped the
        source's reads (its drop in Redis runs a moment later, in the background)."""
        if stored is None:
            return None
        entry: dict[str, Any] = json.loads(stored)
        return entry if entry["at"] > self._dropped_at else None

    async def _await_other_replica(self, name: str) -> bytes | str | None:
        """Coalescing across replicas: the first replica to miss marks the read as being
        fetched and fetches it; the others poll Redis for its answer instead of asking the
        upstream too. None: this replica fetches (it holds the mark, the other fetch ended
        without an answer, the wait ran out, or Redis is unavailable)."""
        marker = name + ":fetching"

        async def mark(redis: Redis) -> bool:
            return bool(await redis.set(marker, self.link.replica, nx=True, px=COALESCE_MS))

        deadline = time.monotonic() + COALESCE_MS / 1000
        while time.monotonic() < deadline:
            if await self.link.call(mark) is not False:
                return None
            await asyncio.sleep(COALESCE_POLL)
            stored = await self.link.call(lambda redis: redis.get(name))
            if self._fresh(stored) is not None:
                self.coalesced += 1
                return stored
        return None

    def _unmark(self, marker: str) -> Callable[[Redis], Awaitable[None]]:
        """Remove the fetching mark if this replica holds it (one fetch per key and process:
        the local level coalesces within the process)."""

        async def unmark(redis: Redis) -> None:
            holder = await redis.get(marker)
            if holder in (self.link.replica, self.link.replica.encode()):
                await redis.delete(marker)

        return unmark

    def clear(self) -> None:
        """Drop this source's reads here, in Redis, and (by a message) on every replica."""
        self.clear_local()
        self._dropped_at = time.time()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # outside the event loop (a script): there is no replica to tell
            return
        task = loop.create_task(self._clear_shared())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def clear_local(self) -> None:
        super().clear()

    async def _clear_shared(self) -> None:
        async def drop(redis: Redis) -> None:
            pattern = f"{self.link.prefix}:cache:{self.source}:*"
            names = [name async for name in redis.scan_iter(pattern)]
            if names:
                await redis.unlink(*names)

        await self.link.call(drop)
        await self.link.publish(CACHE_DROP, {"source": self.source})


class RequestBudget:
    """At most `per_second` upstream requests per second for one source, all replicas together."""

    def __init__(self, source: str, per_second: int, link: RedisLink | None) -> None:
        self.source = source
        self.per_second = per_second
        self.link = link
        self._local: dict[int, int] = {}
        self.waits = 0

    async def acquire(self) -> None:
        """Wait until this source's budget for the current second has room."""
        while True:
            now = time.time()
            second = int(now)
            used = await self._count(second)
            if used <= self.per_second:
                return
            self.waits += 1
            await asyncio.sleep(second + 1 - now)

    async def _count(self, second: int) -> int:
        if self.link is not None:
            name = f"{self.link.prefix}:budget:{self.source}:{second}"

            async def incr(redis: Redis) -> int:
                async with redis.pipeline(transaction=True) as pipe:
                    pipe.incr(name)
                    pipe.expire(name, 5)
                    count, _ = await pipe.execute()
                return int(count)

            shared = await self.link.call(incr)
            if shared is not None:
                return shared
        # Without Redis each replica keeps the budget alone.
        for old in [s for s in self._local if s < second]:
            del self._local[old]
        self._local[second] = self._local.get(second, 0) + 1
        return self._local[second]


class SharedIdempotency(StateStore):
    """A state store whose idempotency claims are shared in Redis; the rest is the inner
    store's. While Redis is unavailable the inner store alone decides."""

    def __init__(self, inner: StateStore, link: RedisLink) -> None:
        self.inner = inner
        self.link = link

    def _name(self, scope: str, key: str) -> str:
        digest = hashlib.sha256(f"{scope}\n{key}".encode()).hexdigest()
        return f"{self.link.prefix}:idempotency:{digest}"

    async def claim_idempotency(
        self, scope: str, key: str, fingerprint: str, now: float | None = None, *,
        reference: str = "", owner: str = "", lease: float = 300.0,
    ) -> IdempotencyRecord | None:
        at = time.time() if now is None else now
        name = self._name(scope, key)
        record = json.dumps(IdempotencyRecord(
            fingerprint, None, at, reference, owner, at + lease).to_json())

        async def claim(redis: Redis) -> IdempotencyRecord | None:
            if await redis.set(name, record, nx=True, px=int(IDEMPOTENCY_TTL * 1000)):
                return None
            stored = await redis.get(name)
            if stored is None:  # expired in between: claim again
                return await claim(redis)
            return IdempotencyRecord.from_json(json.loads(stored))

        found = await self.link.call(claim)
        if found is not None:
            return found
        # New in Redis (or Redis unavailable): the durable store has the last word, since
        # it may hold a claim made while Redis was down or before Redis lost its data.
        existing = await self.inner.claim_idempotency(
            scope, key, fingerprint, now, reference=reference, owner=owner, lease=lease)
        if existing is not None:
            copy = json.dumps(existing.to_json())
            ttl = max(1, int((existing.created_at + IDEMPOTENCY_TTL - at) * 1000))
            await self.link.call(lambda redis: redis.set(name, copy, px=ttl))
        return existing

    async def _update(
        self, scope: str, key: str,
        change: Callable[[IdempotencyRecord], IdempotencyRecord | None],
    ) -> bool | None:
        """Apply `change` to the Redis copy of a claim atomically (WATCH): None without
        Redis or without a copy, False when `change` declined (None) or lost a race."""
        name = self._name(scope, key)

        async def update(redis: Redis) -> bool | None:
            async with redis.pipeline(transaction=True) as pipe:
                await pipe.watch(name)
                stored = await pipe.get(name)
                if stored is None:
                    return None
                changed = change(IdempotencyRecord.from_json(json.loads(stored)))
                if changed is None:
                    return False
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.set(name, json.dumps(changed.to_json()), xx=True, keepttl=True)
                try:
                    await pipe.execute()
                except WatchError:
                    return False
                return True

        return await self.link.call(update)

    async def complete_idempotency(self, scope: str, key: str, result: str) -> None:
        await self._update(scope, key, lambda record: replace(record, result=result,
                                                               unknown=False))
        await self.inner.complete_idempotency(scope, key, result)

    async def release_idempotency(self, scope: str, key: str, owner: str | None = None) -> None:
        name = self._name(scope, key)

        async def release(redis: Redis) -> None:
            stored = await redis.get(name)
            if stored is None:
                return
            record = IdempotencyRecord.from_json(json.loads(stored))
            if record.result is None and owner in (None, record.owner):
                await redis.delete(name)

        await self.link.call(release)
        await self.inner.release_idempotency(scope, key, owner)

    async def mark_unknown(self, scope: str, key: str, owner: str) -> None:
        await self._update(scope, key, lambda record: replace(
            record, unknown=True, lease_until=0.0
        ) if record.result is None and record.owner == owner else None)
        await self.inner.mark_unknown(scope, key, owner)

    async def take_over(
        self, scope: str, key: str, seen: IdempotencyRecord, owner: str, lease_until: float
    ) -> bool:
        def take(record: IdempotencyRecord) -> IdempotencyRecord | None:
            same = (record.result is None and record.owner == seen.owner
                    and record.lease_until == seen.lease_until and record.unknown == seen.unknown)
            return replace(record, owner=owner, lease_until=lease_until,
                           unknown=False) if same else None

        shared = await self._update(scope, key, take)
        durable = await self.inner.take_over(scope, key, seen, owner, lease_until)
        # Redis decides where it holds the claim (replicas may each keep their own SQLite).
        return durable if shared is None else shared

    async def count_claims(self) -> int:
        return await self.inner.count_claims()  # Redis's copies expire on their own

    async def unfinished_claims(self) -> list[Claim]:
        return await self.inner.unfinished_claims()

    async def remember_delivery(
        self, source: str, delivery_id: str, now: float | None = None
    ) -> bool:
        return await self.inner.remember_delivery(source, delivery_id, now)

    async def index_add(self, source: str, remote_ids: Iterable[int]) -> None:
        await self.inner.index_add(source, remote_ids)

    async def index_remove(self, source: str, remote_ids: Iterable[int]) -> None:
        await self.inner.index_remove(source, remote_ids)

    async def index_page(self, source: str, offset: int, limit: int) -> list[int]:
        return await self.inner.index_page(source, offset, limit)

    async def index_count(self, source: str) -> int:
        return await self.inner.index_count(source)

    async def record_changes(self, changes: Sequence[NewChange], now: float) -> int:
        return await self.inner.record_changes(changes, now)

    async def read_changes(
        self, after: int, limit: int, sources: Collection[str] | None = None
    ) -> tuple[list[Change], int]:
        return await self.inner.read_changes(after, limit, sources)

    async def prune_changes(self, before: float) -> int:
        return await self.inner.prune_changes(before)

    async def reported_since(self, source: str, since: float) -> set[tuple[str, str]]:
        return await self.inner.reported_since(source, since)

    async def sync_seen(self, source: str) -> tuple[float, dict[str, str]] | None:
        return await self.inner.sync_seen(source)

    async def save_sync_seen(self, source: str, polled_at: float, seen: Mapping[str, str]
                             ) -> None:
        await self.inner.save_sync_seen(source, polled_at, seen)

    async def start(self) -> None:
        await self.inner.start()

    async def ping(self) -> None:
        await self.inner.ping()  # Redis is optional: the replica works on without it

    async def close(self) -> None:
        await self.inner.close()


class ScaleOut:
    """What a replica shares through Redis, started and stopped with the app's lifespan."""

    def __init__(self, link: RedisLink | None, adapters: Mapping[str, Adapter]) -> None:
        self.link = link
        self.adapters = adapters
        self.budgets: dict[str, RequestBudget] = {}
        self._handlers: dict[str, list[Handler]] = {CACHE_DROP: [self._cache_dropped]}
        self._listener: asyncio.Task[None] | None = None

    @classmethod
    async def start(
        cls, redis_url: str | None, adapters: Mapping[str, Adapter], prefix: str = PREFIX
    ) -> ScaleOut:
        link = RedisLink(redis_url, prefix=prefix) if redis_url else None
        scaleout = cls(link, adapters)
        for name, adapter in adapters.items():
            client = adapter.client
            if link is not None:
                client.cache = SharedReadCache(client.cache, name, link)
            per_second = adapter.config.request_budget
            if per_second is not None:
                budget = RequestBudget(name, per_second, link)
                client.before_each_request(budget.acquire)
                scaleout.budgets[name] = budget
        if link is not None:
            if await link.call(lambda redis: redis.ping()) is None:
                logger.warning("redis at start-up is unavailable; each replica works alone "
                               "until it answers")
            scaleout._listener = asyncio.get_running_loop().create_task(scaleout._listen(link))
        return scaleout

    def shared_state(self, store: StateStore) -> StateStore:
        """`store` with its idempotency claims shared in Redis (unchanged without Redis)."""
        return store if self.link is None else SharedIdempotency(store, self.link)

    async def publish(self, topic: str, payload: Mapping[str, Any]) -> bool:
        """Fan `payload` out to the `topic` handlers of every other replica (an accepted
        webhook's event, say). False when there is no Redis to carry it: the caller has
        already delivered it locally, and other replicas miss it."""
        return self.link is not None and await self.link.publish(topic, payload)

    def subscribe(self, topic: str, handler: Handler) -> None:
        """Call `handler` with each payload another replica publishes on `topic`."""
        self._handlers.setdefault(topic, []).append(handler)

    async def _listen(self, link: RedisLink) -> None:
        """Deliver other replicas' messages; resubscribe after Redis comes back (messages
        sent meanwhile are lost: cache copies a missed drop should have removed expire with
        the local TTL)."""
        while True:
            try:
                async with link.redis.pubsub() as pubsub:
                    await pubsub.psubscribe(link.fanout + "*")
                    async for message in pubsub.listen():
                        if message.get("type") == "pmessage":
                            self._deliver(link, message["channel"], message["data"])
            except (RedisError, OSError) as exc:
                link.down(exc)
            await asyncio.sleep(RETRY_AFTER)

    def _deliver(self, link: RedisLink, channel: bytes, data: bytes) -> None:
        try:
            topic = channel.decode().removeprefix(link.fanout)
            message = json.loads(data)
            payload, replica = message["payload"], message["replica"]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            logger.warning("ignored a malformed fan-out message on %r", channel)
            return
        if replica == link.replica:
            return
        for handler in self._handlers.get(topic, ()):
            try:
                handler(payload)
            except Exception:  # one bad handler must not stop delivery to the others
                logger.exception("fan-out handler for %r failed", topic)

    def _cache_dropped(self, payload: Mapping[str, Any]) -> None:
        adapter = self.adapters.get(str(payload.get("source")))
        if adapter is not None and isinstance(adapter.client.cache, SharedReadCache):
            adapter.client.cache.clear_local()

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
        if self.link is not None:
            await self.link.close()
