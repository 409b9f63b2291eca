"""The gateway's own durable state (contract "State store (v2)").

It holds three things that must survive a restart and, with a shared backend, be seen by
every replica:

- idempotency records: the first result of a creating write, per caller and key, 24 hours;
- accepted webhook delivery ids (the replay guard);
- the MakersHub invoice index: the ids the gateway has seen, since MakersHub cannot list.

`StateStore` is the interface; `open_state(url)` picks the backend from the configured
URL. `SqliteState` is the default (a file beside the configuration, or memory for the
demo); it runs the standard library's sqlite3 in a worker thread so the event loop never
blocks on disk.
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

T = TypeVar("T")

IDEMPOTENCY_TTL = 24 * 3600.0
DELIVERY_TTL = 7 * 24 * 3600.0


@dataclass(frozen=True)
class IdempotencyRecord:
    """What a creating write with an idempotency key left behind.

    `fingerprint` identifies the input (a retry with another input is a reuse of the key);
    `result` is the serialized first result, None while that first write is still running.
    """

    fingerprint: str
    result: str | None
    created_at: float


class StateStore(abc.ABC):
    """The durable state every backend keeps the same way."""

    # --- idempotency ------------------------------------------------------------------
    @abc.abstractmethod
    async def claim_idempotency(
        self, scope: str, key: str, fingerprint: str, now: float | None = None
    ) -> IdempotencyRecord | None:
        """Claim `key` within `scope` (caller and source) for a new write.

        Returns None when the claim is new: the caller performs the write, then calls
        `complete_idempotency` (or `release_idempotency` when it failed). Otherwise returns
        the record already there (younger than 24 hours): the caller answers from it.
        """

    @abc.abstractmethod
    async def complete_idempotency(self, scope: str, key: str, result: str) -> None:
        """Store the result of the write a claim was made for."""

    @abc.abstractmethod
    async def release_idempotency(self, scope: str, key: str) -> None:
        """Drop an unfinished claim (the write failed; a retry may try again)."""

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


class SqliteState(StateStore):
    """The embedded default: one SQLite database (a file, or `:memory:`)."""

    def __init__(self, path: str) -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            if path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def locked() -> T:
            with self._lock:
                return work(self._db)

        return await asyncio.to_thread(locked)

    async def claim_idempotency(
        self, scope: str, key: str, fingerprint: str, now: float | None = None
    ) -> IdempotencyRecord | None:
        at = time.time() if now is None else now

        def work(db: sqlite3.Connection) -> IdempotencyRecord | None:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute(
                    "SELECT fingerprint, result, created_at FROM idempotency"
                    " WHERE scope = ? AND key = ?",
                    (scope, key),
                ).fetchone()
                if row is not None and row[2] > at - IDEMPOTENCY_TTL:
                    return IdempotencyRecord(row[0], row[1], row[2])
                db.execute(
                    "INSERT OR REPLACE INTO idempotency VALUES (?, ?, ?, NULL, ?)",
                    (scope, key, fingerprint, at),
                )
                return None
            finally:
                db.execute("COMMIT")

        return await self._run(work)

    async def complete_idempotency(self, scope: str, key: str, result: str) -> None:
        await self._exec(
            "UPDATE idempotency SET result = ? WHERE scope = ? AND key = ?", (result, scope, key)
        )

    async def release_idempotency(self, scope: str, key: str) -> None:
        await self._exec(
            "DELETE FROM idempotency WHERE scope = ? AND key = ? AND result IS NULL", (scope, key)
        )

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


def open_state(url: str) -> StateStore:
    """The state store a configured URL names: `sqlite:///PATH` (or `sqlite:///:memory:`),
    or `postgresql://...` (`postgres://` too) for replicas sharing one database."""
    if url.startswith("sqlite:///"):
        return SqliteState(url.removeprefix("sqlite:///"))
    if url.startswith(("postgresql://", "postgres://")):
        from gateway.state_postgres import PostgresState

        return PostgresState(url)
    scheme = url.split(":", 1)[0]
    raise ValueError(f"state store {scheme}:// is not supported by this build")
