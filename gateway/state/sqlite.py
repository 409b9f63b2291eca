"""The gateway's own durable state (contract "State store (v2)").

It holds three things that must survive a restart and, with a shared backend, be seen by
every replica:

- idempotency claims: per caller and key, 24 hours, the claim of a creating write made
  before its upstream request (with the reference sent along, a lease, and whether the
  outcome is unknown), then its first result (`gateway.writes` and docs/writes.md);
- accepted webhook delivery ids (the replay guard);
- the MakersHub invoice index: the ids the gateway has seen, since MakersHub cannot list.

`StateStore` is the interface; `open_state(url)` picks the backend from the configured
URL. `SqliteState` is the default (a file beside the configuration, or memory for the
demo); it runs the standard library's sqlite3 in a worker thread so the event loop never
blocks on disk.

Any failure of the store itself (a database that is down, locked, or slower than the
store's `timeout`) leaves as `StateUnavailable`, which names the store.
"""

from __future__ import annotations

import abc
import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from gateway.errors import StateUnavailable

T = TypeVar("T")

IDEMPOTENCY_TTL = 24 * 3600.0
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
        (younger than 24 hours): the caller answers from it or reconciles it.
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

    async def start(self) -> None:  # noqa: B027 (a hook: backends without setup skip it)
        """Connect and prepare the backend (the app's lifespan awaits it before serving)."""

    async def ping(self) -> None:
        """Raise unless the backend answers a trivial read (the readiness probe's check).
        Backends override it with their cheapest round trip; this one works for any."""
        await self.index_count("")

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the backend's connections."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency (
    scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL,
    result TEXT, created_at REAL NOT NULL, PRIMARY KEY (scope, key));
CREATE TABLE IF NOT EXISTS deliveries (
    source TEXT NOT NULL, delivery_id TEXT NOT NULL, accepted_at REAL NOT NULL,
    PRIMARY KEY (source, delivery_id));
CREATE TABLE IF NOT EXISTS invoice_index (
    source TEXT NOT NULL, remote_id INTEGER NOT NULL, PRIMARY KEY (source, remote_id));
"""
# Claim columns added after 0.2.4 (a store made before gets them with these defaults: an
# unfinished claim of an older gateway is then one whose lease has expired).
CLAIM_COLUMNS = (
    ("reference", "TEXT NOT NULL DEFAULT ''"),
    ("owner", "TEXT NOT NULL DEFAULT ''"),
    ("lease_until", "DOUBLE PRECISION NOT NULL DEFAULT 0"),
    ("unknown", "BOOLEAN NOT NULL DEFAULT FALSE"),
)
_RECORD = "fingerprint, result, created_at, reference, owner, lease_until, unknown"


def record_of(row: Sequence[Any]) -> IdempotencyRecord:
    """An `IdempotencyRecord` from a row of `_RECORD`'s columns."""
    return IdempotencyRecord(row[0], row[1], float(row[2]), row[3], row[4], float(row[5]),
                             bool(row[6]))


class SqliteState(StateStore):
    """The embedded default: one SQLite database (a file, or `:memory:`)."""

    def __init__(self, path: str, timeout: float = STATE_TIMEOUT) -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # `timeout`: how long a statement waits for another process's lock on the file.
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                   timeout=timeout)
        self._lock = threading.Lock()
        with self._lock:
            if path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
            have = {row[1] for row in self._db.execute("PRAGMA table_info(idempotency)")}
            for name, kind in CLAIM_COLUMNS:
                if name not in have:
                    self._db.execute(f"ALTER TABLE idempotency ADD COLUMN {name} {kind}")

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def locked() -> T:
            with self._lock:
                return work(self._db)

        try:
            return await asyncio.to_thread(locked)
        except sqlite3.Error as exc:
            raise StateUnavailable(f"sqlite:///{self.path}", str(exc) or type(exc).__name__
                                   ) from None

    async def claim_idempotency(
        self, scope: str, key: str, fingerprint: str, now: float | None = None, *,
        reference: str = "", owner: str = "", lease: float = 300.0,
    ) -> IdempotencyRecord | None:
        at = time.time() if now is None else now

        def work(db: sqlite3.Connection) -> IdempotencyRecord | None:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute(
                    f"SELECT {_RECORD} FROM idempotency WHERE scope = ? AND key = ?",
                    (scope, key),
                ).fetchone()
                if row is not None and row[2] > at - IDEMPOTENCY_TTL:
                    return record_of(row)
                db.execute(
                    "INSERT OR REPLACE INTO idempotency (scope, key, fingerprint, result,"
                    " created_at, reference, owner, lease_until, unknown)"
                    " VALUES (?, ?, ?, NULL, ?, ?, ?, ?, FALSE)",
                    (scope, key, fingerprint, at, reference, owner, at + lease),
                )
                return None
            finally:
                db.execute("COMMIT")

        return await self._run(work)

    async def complete_idempotency(self, scope: str, key: str, result: str) -> None:
        await self._exec(
            "UPDATE idempotency SET result = ?, unknown = FALSE WHERE scope = ? AND key = ?",
            (result, scope, key),
        )

    async def release_idempotency(self, scope: str, key: str, owner: str | None = None) -> None:
        await self._exec(
            "DELETE FROM idempotency WHERE scope = ? AND key = ? AND result IS NULL"
            " AND (? IS NULL OR owner = ?)", (scope, key, owner, owner)
        )

    async def mark_unknown(self, scope: str, key: str, owner: str) -> None:
        await self._exec(
            "UPDATE idempotency SET unknown = TRUE, lease_until = 0 WHERE scope = ? AND key = ?"
            " AND result IS NULL AND owner = ?", (scope, key, owner)
        )

    async def take_over(
        self, scope: str, key: str, seen: IdempotencyRecord, owner: str, lease_until: float
    ) -> bool:
        def work(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "UPDATE idempotency SET owner = ?, lease_until = ?, unknown = FALSE"
                " WHERE scope = ? AND key = ?"
                " AND result IS NULL AND owner = ? AND lease_until = ? AND unknown = ?",
                (owner, lease_until, scope, key, seen.owner, seen.lease_until, seen.unknown),
            )
            taken = cursor.rowcount == 1
            cursor.close()
            return taken

        return await self._run(work)

    async def unfinished_claims(self) -> list[Claim]:
        rows = await self._fetch(
            f"SELECT scope, key, {_RECORD} FROM idempotency WHERE result IS NULL"
            " AND created_at > ? ORDER BY created_at", (time.time() - IDEMPOTENCY_TTL,))
        return [Claim(row[0], row[1], record_of(row[2:])) for row in rows]

    async def remember_delivery(
        self, source: str, delivery_id: str, now: float | None = None
    ) -> bool:
        at = time.time() if now is None else now

        def work(db: sqlite3.Connection) -> bool:
            db.execute("DELETE FROM deliveries WHERE accepted_at < ?", (at - DELIVERY_TTL,))
            cursor = db.execute(
                "INSERT OR IGNORE INTO deliveries VALUES (?, ?, ?)", (source, delivery_id, at)
            )
            inserted = cursor.rowcount == 1
            cursor.close()
            return inserted

        return await self._run(work)

    async def index_add(self, source: str, remote_ids: Iterable[int]) -> None:
        rows = [(source, int(remote_id)) for remote_id in remote_ids]
        if rows:
            await self._run_many("INSERT OR IGNORE INTO invoice_index VALUES (?, ?)", rows)

    async def index_remove(self, source: str, remote_ids: Iterable[int]) -> None:
        rows = [(source, int(remote_id)) for remote_id in remote_ids]
        if rows:
            await self._run_many(
                "DELETE FROM invoice_index WHERE source = ? AND remote_id = ?", rows
            )

    async def index_page(self, source: str, offset: int, limit: int) -> list[int]:
        rows = await self._fetch(
            "SELECT remote_id FROM invoice_index WHERE source = ?"
            " ORDER BY remote_id LIMIT ? OFFSET ?",
            (source, limit, offset),
        )
        return [int(row[0]) for row in rows]

    async def index_count(self, source: str) -> int:
        rows = await self._fetch("SELECT COUNT(*) FROM invoice_index WHERE source = ?", (source,))
        return int(rows[0][0])

    async def ping(self) -> None:
        await self._fetch("SELECT 1", ())

    async def close(self) -> None:
        with self._lock:
            self._db.close()

    # The cursor is closed inside the lock: one left to the garbage collector is finalized
    # in whichever thread runs next, concurrently with its statement ("API misuse").
    async def _exec(self, sql: str, params: Sequence[Any]) -> None:
        await self._run(lambda db: db.execute(sql, params).close())

    async def _run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._run(lambda db: db.executemany(sql, rows).close())

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[Any]:
        def work(db: sqlite3.Connection) -> list[Any]:
            cursor = db.execute(sql, params)
            try:
                return cursor.fetchall()
            finally:
                cursor.close()

        return await self._run(work)


def open_state(url: str, timeout: float = STATE_TIMEOUT) -> StateStore:
    """The state store a configured URL names: `sqlite:///PATH` (or `sqlite:///:memory:`),
    or `postgresql://...` (`postgres://` too) for replicas sharing one database. `timeout`
    bounds each operation (connecting and waiting for a connection included)."""
    if url.startswith("sqlite:///"):
        return SqliteState(url.removeprefix("sqlite:///"), timeout)
    if url.startswith(("postgresql://", "postgres://")):
        from gateway.state_postgres import PostgresState

        return PostgresState(url, timeout=timeout)
    scheme = url.split(":", 1)[0]
    raise ValueError(f"state store {scheme}:// is not supported by this build")
