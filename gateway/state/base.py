"""The gateway's own durable state (contract "State store (v2)").

It holds three things that must survive a restart and, with a shared backend, be seen by
every replica:

- idempotency claims: per caller and key, 24 hours, the claim of a creating write made
  before its upstream request (with the reference sent along, a lease, and whether the
  outcome is unknown), then its first result (`gateway.writes.exactly_once` and docs/writes.md);
- accepted webhook delivery ids (the replay guard);
- the MakersHub invoice index: the ids the gateway has seen, since MakersHub cannot list;
- the change feed (`invoiceChanges`, docs/changes.md): changes in sequence, at most one per
  dedup key, pruned after the retention; and what each polled source looked like at its
  last poll.

`StateStore` is the interface; `open_state(url)` picks the backend from the configured
URL. `SqliteState` is the default (a file beside the configuration, or memory for the
demo); it runs the standard library's sqlite3 in a worker thread so the event loop never
blocks on disk.

Any failure of the store itself (a database that is down, locked, or slower than the
store's `timeout`) leaves as `StateUnavailable`, which names the store.
"""

from __future__ import annotations

import abc
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.domain.changes import Change, ChangeOrigin, ChangeType, NewChange

IDEMPOTENCY_TTL = 24 * 3600.0
# At most this often (seconds) a claim also deletes the records older than IDEMPOTENCY_TTL,
# which no claim or reconciliation reads any more: the table holds a day of keys, not all.
CLAIM_PRUNE_EVERY = 60.0
DELIVERY_TTL = 7 * 24 * 3600.0
STATE_TIMEOUT = 3.0  # seconds a store operation may take before it is "unavailable"


@dataclass(frozen=True)
class IdempotencyRecord:
    """What a creating write with an idempotency key left behind.

    `fingerprint` identifies the input (a retry with another input is a reuse of the key);
    `result` is the serialized first result, None while the write is unfinished. An
    unfinished claim carries the `reference` the gateway sent with the create (how the
    record is found again upstream), the `owner` process and its `lease_until` (epoch
    seconds; past it, the owner is presumed dead), and `unknown`: the request may have
    reached the upstream but its answer never came back.
    """

    fingerprint: str
    result: str | None
    created_at: float
    reference: str = ""
    owner: str = ""
    lease_until: float = 0.0
    unknown: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "result": self.result,
                "created_at": self.created_at, "reference": self.reference,
                "owner": self.owner, "lease_until": self.lease_until,
                "unknown": self.unknown}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IdempotencyRecord:
        return cls(data["fingerprint"], data["result"], float(data["created_at"]),
                   data.get("reference", ""), data.get("owner", ""),
                   float(data.get("lease_until", 0.0)), bool(data.get("unknown", False)))


@dataclass(frozen=True)
class Claim:
    """An unfinished claim as the operator CLI lists it."""

    scope: str
    key: str
    record: IdempotencyRecord


class StateStore(abc.ABC):
    """The durable state every backend keeps the same way."""

    # --- idempotency ------------------------------------------------------------------
    @abc.abstractmethod
    async def claim_idempotency(
        self, scope: str, key: str, fingerprint: str, now: float | None = None, *,
        reference: str = "", owner: str = "", lease: float = 300.0,
    ) -> IdempotencyRecord | None:
        """Claim `key` within `scope` (caller and source) for a new write, held by `owner`
        for `lease` seconds, with the `reference` the write will send upstream.

        Returns None when the claim is new: the caller performs the write, then calls
        `complete_idempotency` (or `release_idempotency` when it provably did nothing, or
        `mark_unknown` when it may have). Otherwise returns the record already there
        (younger than 24 hours): the caller answers from it or reconciles it. At most every
        `CLAIM_PRUNE_EVERY` seconds it also deletes the records older than 24 hours.
        """

    @abc.abstractmethod
    async def complete_idempotency(self, scope: str, key: str, result: str) -> None:
        """Store the result of the write a claim was made for."""

    @abc.abstractmethod
    async def release_idempotency(self, scope: str, key: str, owner: str | None = None) -> None:
        """Drop an unfinished claim (the write did nothing; a retry may try again); with
        `owner`, only while that owner holds it."""

    @abc.abstractmethod
    async def mark_unknown(self, scope: str, key: str, owner: str) -> None:
        """Mark `owner`'s unfinished claim as of unknown outcome and end its lease."""

    @abc.abstractmethod
    async def take_over(
        self, scope: str, key: str, seen: IdempotencyRecord, owner: str, lease_until: float
    ) -> bool:
        """Hold an unfinished claim (unknown, or its lease expired) for reconciling: True
        when it was still exactly as `seen` and is now `owner`'s until `lease_until`
        (pending again: a concurrent retry is told it is running)."""

    @abc.abstractmethod
    async def count_claims(self) -> int:
        """How many idempotency records the store holds, expired ones not yet pruned
        included."""

    @abc.abstractmethod
    async def unfinished_claims(self) -> list[Claim]:
        """Every unfinished claim younger than 24 hours (for the operator CLI)."""

    # --- webhook deliveries ----------------------------------------------------------
    @abc.abstractmethod
    async def remember_delivery(
        self, source: str, delivery_id: str, now: float | None = None
    ) -> bool:
        """Record an accepted delivery id; False when it was already accepted (a replay)."""

    # --- the MakersHub index -----------------------------------------------------------
    @abc.abstractmethod
    async def index_add(self, source: str, remote_ids: Iterable[int]) -> None:
        """Add invoice ids to a source's index (adding one already there is a no-op)."""

    @abc.abstractmethod
    async def index_remove(self, source: str, remote_ids: Iterable[int]) -> None:
        """Remove invoice ids (deleted, or merged away) from a source's index."""

    @abc.abstractmethod
    async def index_page(self, source: str, offset: int, limit: int) -> list[int]:
        """Up to `limit` indexed ids of a source in ascending order, skipping `offset`."""

    @abc.abstractmethod
    async def index_count(self, source: str) -> int:
        """How many ids a source's index holds."""

    # --- the change feed -----------------------------------------------------------------
    @abc.abstractmethod
    async def record_changes(self, changes: Sequence[NewChange], now: float) -> int:
        """Append changes to the feed in order, each with the next sequence number, skipping
        any whose dedup key is already recorded; returns how many were appended. Sequence
        numbers are handed out in commit order: a reader never sees a later one before an
        earlier one (that would let a cursor skip it)."""

    @abc.abstractmethod
    async def read_changes(
        self, after: int, limit: int, sources: Collection[str] | None = None
    ) -> tuple[list[Change], int]:
        """Up to `limit` changes with a sequence above `after` (of `sources` only, when
        given), oldest first; and the highest sequence ever pruned (a cursor below it has
        lost changes)."""

    @abc.abstractmethod
    async def prune_changes(self, before: float) -> int:
        """Drop the changes recorded before `before` (epoch seconds); returns how many."""

    @abc.abstractmethod
    async def reported_since(self, source: str, since: float) -> set[tuple[str, str]]:
        """(remote id, origin) of `source`'s UPDATED and PAID changes that a webhook or a
        gateway write recorded at or after `since` (a poll may be finding the same)."""

    @abc.abstractmethod
    async def sync_seen(self, source: str) -> tuple[float, dict[str, str]] | None:
        """When `source` was last polled and what each invoice looked like then (remote id
        -> state text); None before its first poll."""

    @abc.abstractmethod
    async def save_sync_seen(self, source: str, polled_at: float, seen: Mapping[str, str]
                             ) -> None:
        """Replace what `source` looked like (its poll at `polled_at`)."""

    async def start(self) -> None:  # noqa: B027 (a hook: backends without setup skip it)
        """Connect and prepare the backend (the app's lifespan awaits it before serving)."""

    async def ping(self) -> None:
        """Raise unless the backend answers a trivial read (the readiness probe's check).
        Backends override it with their cheapest round trip; this one works for any."""
        await self.index_count("")

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the backend's connections."""


# Claim columns added after 0.2.4 (a store made before gets them with these defaults: an
# unfinished claim of an older gateway is then one whose lease has expired).
CLAIM_COLUMNS = (
    ("reference", "TEXT NOT NULL DEFAULT ''"),
    ("owner", "TEXT NOT NULL DEFAULT ''"),
    ("lease_until", "DOUBLE PRECISION NOT NULL DEFAULT 0"),
    ("unknown", "BOOLEAN NOT NULL DEFAULT FALSE"),
)
RECORD_COLUMNS = "fingerprint, result, created_at, reference, owner, lease_until, unknown"


def record_of(row: Sequence[Any]) -> IdempotencyRecord:
    """An `IdempotencyRecord` from a row of `RECORD_COLUMNS`'s columns."""
    return IdempotencyRecord(row[0], row[1], float(row[2]), row[3], row[4], float(row[5]),
                             bool(row[6]))


CHANGE_COLUMNS = "seq, type, source, remote_id, origin, at"


def change_of(row: Sequence[Any]) -> Change:
    """A `Change` from a row of `CHANGE_COLUMNS`'s columns."""
    return Change(int(row[0]), ChangeType(row[1]), row[2], row[3], ChangeOrigin(row[4]),
                  datetime.fromtimestamp(float(row[5]), UTC))


def change_row(change: NewChange, now: float) -> tuple[Any, ...]:
    """The values of a new change for (dedup_key, source, remote_id, type, origin, at,
    recorded_at)."""
    return (change.key, change.source, change.remote_id, change.type.value,
            change.origin.value, change.at.timestamp(), now)
