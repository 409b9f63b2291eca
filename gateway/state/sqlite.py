"""`SqliteState`: the embedded default state store, one SQLite database (a file, or
`:memory:`), run in a worker thread so the event loop never blocks on disk."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from gateway.domain.changes import Change, NewChange
from gateway.errors import StateUnavailable
from gateway.state.base import (
    CHANGE_COLUMNS,
    CLAIM_COLUMNS,
    CLAIM_PRUNE_EVERY,
    DELIVERY_TTL,
    IDEMPOTENCY_TTL,
    RECORD_COLUMNS,
    STATE_TIMEOUT,
    Claim,
    IdempotencyRecord,
    StateStore,
    change_of,
    change_row,
    record_of,
)

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency (
    scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL,
    result TEXT, created_at REAL NOT NULL, PRIMARY KEY (scope, key));
CREATE INDEX IF NOT EXISTS idempotency_by_time ON idempotency (created_at);
CREATE TABLE IF NOT EXISTS deliveries (
    source TEXT NOT NULL, delivery_id TEXT NOT NULL, accepted_at REAL NOT NULL,
    PRIMARY KEY (source, delivery_id));
CREATE TABLE IF NOT EXISTS invoice_index (
    source TEXT NOT NULL, remote_id INTEGER NOT NULL, PRIMARY KEY (source, remote_id));
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, dedup_key TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL, remote_id TEXT NOT NULL, type TEXT NOT NULL, origin TEXT NOT NULL,
    at REAL NOT NULL, recorded_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS changes_by_time ON changes (recorded_at);
CREATE INDEX IF NOT EXISTS changes_by_source ON changes (source, recorded_at);
CREATE TABLE IF NOT EXISTS change_horizon (
    id INTEGER PRIMARY KEY CHECK (id = 1), pruned_through INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sync_polls (source TEXT PRIMARY KEY, polled_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS sync_seen (
    source TEXT NOT NULL, remote_id TEXT NOT NULL, state TEXT NOT NULL,
    PRIMARY KEY (source, remote_id));
"""


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
        self._claims_pruned_at = -CLAIM_PRUNE_EVERY  # when a claim last pruned (its `now`)
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
                if abs(at - self._claims_pruned_at) >= CLAIM_PRUNE_EVERY:
                    db.execute("DELETE FROM idempotency WHERE created_at <= ?",
                               (at - IDEMPOTENCY_TTL,)).close()
                    self._claims_pruned_at = at
                row = db.execute(
                    f"SELECT {RECORD_COLUMNS} FROM idempotency WHERE scope = ? AND key = ?",
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

    async def count_claims(self) -> int:
        rows = await self._fetch("SELECT COUNT(*) FROM idempotency", ())
        return int(rows[0][0])

    async def unfinished_claims(self) -> list[Claim]:
        rows = await self._fetch(
            f"SELECT scope, key, {RECORD_COLUMNS} FROM idempotency WHERE result IS NULL"
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

    # AUTOINCREMENT: a sequence number is never handed out twice, not even after the newest
    # changes were pruned. One connection under one lock: appends commit in sequence order.
    async def record_changes(self, changes: Sequence[NewChange], now: float) -> int:
        rows = [change_row(change, now) for change in changes]
        if not rows:
            return 0

        def work(db: sqlite3.Connection) -> int:
            added = 0
            db.execute("BEGIN IMMEDIATE")
            try:
                for row in rows:
                    cursor = db.execute(
                        "INSERT OR IGNORE INTO changes (dedup_key, source, remote_id, type,"
                        " origin, at, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)", row)
                    added += cursor.rowcount
                    cursor.close()
            finally:
                db.execute("COMMIT")
            return added

        return await self._run(work)

    async def read_changes(
        self, after: int, limit: int, sources: Collection[str] | None = None
    ) -> tuple[list[Change], int]:
        def work(db: sqlite3.Connection) -> tuple[list[Change], int]:
            only = ""
            params: list[Any] = [after]
            if sources is not None:
                only = f" AND source IN ({', '.join('?' * len(sources))})"
                params += list(sources)
            cursor = db.execute(f"SELECT {CHANGE_COLUMNS} FROM changes WHERE seq > ?{only}"
                                " ORDER BY seq LIMIT ?", (*params, limit))
            rows = cursor.fetchall()
            cursor.close()
            cursor = db.execute("SELECT pruned_through FROM change_horizon WHERE id = 1")
            horizon = cursor.fetchone()
            cursor.close()
            return [change_of(row) for row in rows], int(horizon[0]) if horizon else 0

        return await self._run(work)

    async def prune_changes(self, before: float) -> int:
        def work(db: sqlite3.Connection) -> int:
            db.execute("BEGIN IMMEDIATE")
            try:
                cursor = db.execute("SELECT MAX(seq), COUNT(*) FROM changes"
                                    " WHERE recorded_at < ?", (before,))
                newest, count = cursor.fetchone()
                cursor.close()
                if newest is not None:
                    db.execute("DELETE FROM changes WHERE seq <= ?", (newest,)).close()
                    db.execute(
                        "INSERT INTO change_horizon VALUES (1, ?) ON CONFLICT (id) DO UPDATE"
                        " SET pruned_through = MAX(pruned_through, excluded.pruned_through)",
                        (newest,)).close()
                return int(count)
            finally:
                db.execute("COMMIT")

        return await self._run(work)

    async def reported_since(self, source: str, since: float) -> set[tuple[str, str]]:
        rows = await self._fetch(
            "SELECT DISTINCT remote_id, origin FROM changes WHERE source = ?"
            " AND recorded_at >= ? AND origin != 'SYNC' AND type IN ('UPDATED', 'PAID')",
            (source, since))
        return {(row[0], row[1]) for row in rows}

    async def sync_seen(self, source: str) -> tuple[float, dict[str, str]] | None:
        def work(db: sqlite3.Connection) -> tuple[float, dict[str, str]] | None:
            cursor = db.execute("SELECT polled_at FROM sync_polls WHERE source = ?", (source,))
            polled = cursor.fetchone()
            cursor.close()
            if polled is None:
                return None
            cursor = db.execute("SELECT remote_id, state FROM sync_seen WHERE source = ?",
                                (source,))
            seen = dict(cursor.fetchall())
            cursor.close()
            return float(polled[0]), seen

        return await self._run(work)

    async def save_sync_seen(self, source: str, polled_at: float, seen: Mapping[str, str]
                             ) -> None:
        rows = [(source, remote_id, state) for remote_id, state in seen.items()]

        def work(db: sqlite3.Connection) -> None:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("DELETE FROM sync_seen WHERE source = ?", (source,)).close()
                db.executemany("INSERT INTO sync_seen VALUES (?, ?, ?)", rows).close()
                db.execute("INSERT OR REPLACE INTO sync_polls VALUES (?, ?)",
                           (source, polled_at)).close()
            finally:
                db.execute("COMMIT")

        await self._run(work)

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
