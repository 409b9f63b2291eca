"""The PostgreSQL state store (`state: postgresql://...`): one database shared by replicas.

Same semantics as `SqliteState`, made safe for several processes at once: an idempotency
claim is one `INSERT ... ON CONFLICT` statement, so two replicas claiming the same key at
the same moment cannot both win; tables are created under an advisory lock, so replicas
starting together do not race on them. The driver is psycopg 3 (async, typed, maintained by
the PostgreSQL adapter's authors) with its connection pool.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Collection, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from gateway.domain.changes import Change, NewChange
from gateway.errors import ConfigError, StateUnavailable
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

# Taken while creating tables: an arbitrary constant shared by every replica.
_SCHEMA_LOCK = 0x1D3A_5E7E
# Held by every append to the change feed until it commits: sequence numbers then become
# visible in the order they were handed out, on every replica (a reader never sees 8
# before 7, which would let its cursor skip 7).
_CHANGES_LOCK = 0x1D3A_C4A6
_SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency (
    scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL,
    result TEXT, created_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (scope, key));
CREATE INDEX IF NOT EXISTS idempotency_by_time ON idempotency (created_at);
CREATE TABLE IF NOT EXISTS deliveries (
    source TEXT NOT NULL, delivery_id TEXT NOT NULL, accepted_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (source, delivery_id));
CREATE TABLE IF NOT EXISTS invoice_index (
    source TEXT NOT NULL, remote_id BIGINT NOT NULL, PRIMARY KEY (source, remote_id));
CREATE TABLE IF NOT EXISTS changes (
    seq BIGSERIAL PRIMARY KEY, dedup_key TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL, remote_id TEXT NOT NULL, type TEXT NOT NULL, origin TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL, recorded_at DOUBLE PRECISION NOT NULL);
CREATE INDEX IF NOT EXISTS changes_by_time ON changes (recorded_at);
CREATE INDEX IF NOT EXISTS changes_by_source ON changes (source, recorded_at);
CREATE TABLE IF NOT EXISTS change_horizon (
    id INTEGER PRIMARY KEY CHECK (id = 1), pruned_through BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS sync_polls (
    source TEXT PRIMARY KEY, polled_at DOUBLE PRECISION NOT NULL);
CREATE TABLE IF NOT EXISTS sync_seen (
    source TEXT NOT NULL, remote_id TEXT NOT NULL, state TEXT NOT NULL,
    PRIMARY KEY (source, remote_id));
"""
_MIGRATE = "".join(
    f"ALTER TABLE idempotency ADD COLUMN IF NOT EXISTS {name} {kind};\n"
    for name, kind in CLAIM_COLUMNS
)
# A new claim inserts; an expired record is taken over; a live one is left alone (no row).
_CLAIM = """
INSERT INTO idempotency AS old
    (scope, key, fingerprint, result, created_at, reference, owner, lease_until, unknown)
VALUES (%s, %s, %s, NULL, %s, %s, %s, %s, FALSE)
ON CONFLICT (scope, key) DO UPDATE
    SET fingerprint = EXCLUDED.fingerprint, result = NULL, created_at = EXCLUDED.created_at,
        reference = EXCLUDED.reference, owner = EXCLUDED.owner,
        lease_until = EXCLUDED.lease_until, unknown = FALSE
    WHERE old.created_at <= EXCLUDED.created_at - %s
RETURNING 1
"""


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


class PostgresState(StateStore):
    """State in a PostgreSQL database, shared by every replica configured with it."""

    def __init__(self, url: str, max_size: int = 10, timeout: float = STATE_TIMEOUT) -> None:
        self.url = url
        self.timeout = timeout
        # Short timeouts: a database that is down costs a request `timeout` seconds at most
        # (waiting for a connection, connecting, or a statement), then STATE_UNAVAILABLE.
        # Each connection is checked as it is handed out, so a pool whose connections a
        # database restart broke recovers on the next request, with no restart of ours.
        self._pool = AsyncConnectionPool(
            url, min_size=1, max_size=max_size, open=False, timeout=timeout,
            check=AsyncConnectionPool.check_connection, reconnect_timeout=0,
            kwargs={"autocommit": True, "connect_timeout": max(1, round(timeout))},
            configure=self._configure,
        )
        self._started = False
        self._starting = asyncio.Lock()
        self._claims_pruned_at = -CLAIM_PRUNE_EVERY  # when a claim last pruned (its `now`)

    async def start(self) -> None:
        """Connect and create the tables; a database that cannot be reached is named."""
        async with self._starting:
            if self._started:
                return
            try:
                # One direct connection first: its error names the cause (refused, unknown
                # database, authentication) where the pool would only report a timeout.
                db = await AsyncConnection.connect(
                    self.url, connect_timeout=max(1, round(self.timeout)))
                async with db, db.transaction():
                    await db.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                    await db.execute(_SCHEMA)
                    await db.execute(_MIGRATE)
                await self._pool.open(wait=True, timeout=max(self.timeout, 5.0))
            except Exception as exc:
                await self._pool.close()
                text = str(exc).strip()
                reason = text.splitlines()[0] if text else type(exc).__name__
                raise ConfigError(
                    f"state store {redacted(self.url)}: cannot use the database: {reason}"
                ) from None
            self._started = True

    async def _configure(self, db: AsyncConnection[Any]) -> None:
        # A statement the database cannot finish in time fails instead of hanging.
        await db.execute(f"SET statement_timeout = {int(self.timeout * 1000)}")

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        """A pooled connection; any failure of the database leaves as StateUnavailable."""
        try:
            if not self._started:
                await self.start()
            async with self._pool.connection() as db:
                yield db
        except ConfigError as exc:
            raise StateUnavailable(redacted(self.url), str(exc).split(": ", 2)[-1]) from None
        except PoolTimeout:
            raise StateUnavailable(
                redacted(self.url), f"no connection within {self.timeout:g}s") from None
        except (psycopg.Error, OSError) as exc:
            text = str(exc).strip()
            reason = text.splitlines()[0] if text else type(exc).__name__
            raise StateUnavailable(redacted(self.url), reason) from None

    async def claim_idempotency(
        self, scope: str, key: str, fingerprint: str, now: float | None = None, *,
        reference: str = "", owner: str = "", lease: float = 300.0,
    ) -> IdempotencyRecord | None:
        at = time.time() if now is None else now
        async with self._connection() as db:
            if abs(at - self._claims_pruned_at) >= CLAIM_PRUNE_EVERY:
                await db.execute("DELETE FROM idempotency WHERE created_at <= %s",
                                 (at - IDEMPOTENCY_TTL,))
                self._claims_pruned_at = at
            # Loops only when a concurrent release removes the live record between the two
            # statements; the next claim then inserts.
            while True:
                claimed = await db.execute(_CLAIM, (scope, key, fingerprint, at, reference,
                                                    owner, at + lease, IDEMPOTENCY_TTL))
                if await claimed.fetchone() is not None:
                    return None
                found = await db.execute(
                    f"SELECT {RECORD_COLUMNS} FROM idempotency WHERE scope = %s AND key = %s",
                    (scope, key),
                )
                row = await found.fetchone()
                if row is not None:
                    return record_of(row)

    async def complete_idempotency(self, scope: str, key: str, result: str) -> None:
        await self._exec(
            "UPDATE idempotency SET result = %s, unknown = FALSE WHERE scope = %s AND key = %s",
            (result, scope, key),
        )

    async def release_idempotency(self, scope: str, key: str, owner: str | None = None) -> None:
        await self._exec(
            "DELETE FROM idempotency WHERE scope = %s AND key = %s AND result IS NULL"
            " AND (%s::text IS NULL OR owner = %s)",
            (scope, key, owner, owner),
        )

    async def mark_unknown(self, scope: str, key: str, owner: str) -> None:
        await self._exec(
            "UPDATE idempotency SET unknown = TRUE, lease_until = 0 WHERE scope = %s"
            " AND key = %s AND result IS NULL AND owner = %s", (scope, key, owner)
        )

    async def take_over(
        self, scope: str, key: str, seen: IdempotencyRecord, owner: str, lease_until: float
    ) -> bool:
        async with self._connection() as db:
            cursor = await db.execute(
                "UPDATE idempotency SET owner = %s, lease_until = %s, unknown = FALSE"
                " WHERE scope = %s AND key = %s AND result IS NULL AND owner = %s"
                " AND lease_until = %s AND unknown = %s",
                (owner, lease_until, scope, key, seen.owner, seen.lease_until, seen.unknown),
            )
            return cursor.rowcount == 1

    async def count_claims(self) -> int:
        rows = await self._fetch("SELECT COUNT(*) FROM idempotency", ())
        return int(rows[0][0])

    async def unfinished_claims(self) -> list[Claim]:
        rows = await self._fetch(
            f"SELECT scope, key, {RECORD_COLUMNS} FROM idempotency WHERE result IS NULL"
            " AND created_at > %s ORDER BY created_at", (time.time() - IDEMPOTENCY_TTL,))
        return [Claim(row[0], row[1], record_of(row[2:])) for row in rows]

    async def remember_delivery(
        self, source: str, delivery_id: str, now: float | None = None
    ) -> bool:
        at = time.time() if now is None else now
        async with self._connection() as db:
            await db.execute("DELETE FROM deliveries WHERE accepted_at < %s", (at - DELIVERY_TTL,))
            cursor = await db.execute(
                "INSERT INTO deliveries VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                (source, delivery_id, at),
            )
            return cursor.rowcount == 1

    async def index_add(self, source: str, remote_ids: Iterable[int]) -> None:
        rows = [(source, int(remote_id)) for remote_id in remote_ids]
        if rows:
            async with self._connection() as db, db.cursor() as cursor:
                await cursor.executemany(
                    "INSERT INTO invoice_index VALUES (%s, %s) ON CONFLICT DO NOTHING", rows
                )

    async def index_remove(self, source: str, remote_ids: Iterable[int]) -> None:
        ids = [int(remote_id) for remote_id in remote_ids]
        if ids:
            await self._exec(
                "DELETE FROM invoice_index WHERE source = %s AND remote_id = ANY(%s)",
                (source, ids),
            )

    async def index_page(self, source: str, offset: int, limit: int) -> list[int]:
        rows = await self._fetch(
            "SELECT remote_id FROM invoice_index WHERE source = %s"
            " ORDER BY remote_id LIMIT %s OFFSET %s",
            (source, limit, offset),
        )
        return [int(row[0]) for row in rows]

    async def index_count(self, source: str) -> int:
        rows = await self._fetch(
            "SELECT COUNT(*) FROM invoice_index WHERE source = %s", (source,)
        )
        return int(rows[0][0])

    async def record_changes(self, changes: Sequence[NewChange], now: float) -> int:
        rows = [change_row(change, now) for change in changes]
        if not rows:
            return 0
        added = 0
        async with self._connection() as db, db.transaction():
            await db.execute("SELECT pg_advisory_xact_lock(%s)", (_CHANGES_LOCK,))
            for row in rows:
                cursor = await db.execute(
                    "INSERT INTO changes (dedup_key, source, remote_id, type, origin, at,"
                    " recorded_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (dedup_key) DO NOTHING", row)
                added += cursor.rowcount
        return added

    async def read_changes(
        self, after: int, limit: int, sources: Collection[str] | None = None
    ) -> tuple[list[Change], int]:
        only = "" if sources is None else " AND source = ANY(%s)"
        params: list[Any] = [after] + ([] if sources is None else [list(sources)])
        async with self._connection() as db:
            cursor = await db.execute(
                f"SELECT {CHANGE_COLUMNS} FROM changes WHERE seq > %s{only}"
                " ORDER BY seq LIMIT %s", (*params, limit))
            rows = await cursor.fetchall()
            cursor = await db.execute("SELECT pruned_through FROM change_horizon WHERE id = 1")
            horizon = await cursor.fetchone()
        return [change_of(row) for row in rows], int(horizon[0]) if horizon else 0

    async def prune_changes(self, before: float) -> int:
        async with self._connection() as db, db.transaction():
            await db.execute("SELECT pg_advisory_xact_lock(%s)", (_CHANGES_LOCK,))
            cursor = await db.execute(
                "SELECT MAX(seq), COUNT(*) FROM changes WHERE recorded_at < %s", (before,))
            row = await cursor.fetchone()
            assert row is not None
            newest, count = row
            if newest is not None:
                await db.execute("DELETE FROM changes WHERE seq <= %s", (newest,))
                await db.execute(
                    "INSERT INTO change_horizon VALUES (1, %s) ON CONFLICT (id) DO UPDATE"
                    " SET pruned_through = GREATEST(change_horizon.pruned_through,"
                    " EXCLUDED.pruned_through)", (newest,))
        return int(count)

    async def reported_since(self, source: str, since: float) -> set[tuple[str, str]]:
        rows = await self._fetch(
            "SELECT DISTINCT remote_id, origin FROM changes WHERE source = %s"
            " AND recorded_at >= %s AND origin <> 'SYNC' AND type IN ('UPDATED', 'PAID')",
            (source, since))
        return {(row[0], row[1]) for row in rows}

    async def sync_seen(self, source: str) -> tuple[float, dict[str, str]] | None:
        async with self._connection() as db:
            cursor = await db.execute(
                "SELECT polled_at FROM sync_polls WHERE source = %s", (source,))
            polled = await cursor.fetchone()
            if polled is None:
                return None
            cursor = await db.execute(
                "SELECT remote_id, state FROM sync_seen WHERE source = %s", (source,))
            seen = {row[0]: row[1] for row in await cursor.fetchall()}
        return float(polled[0]), seen

    async def save_sync_seen(self, source: str, polled_at: float, seen: Mapping[str, str]
                             ) -> None:
        rows = [(source, remote_id, state) for remote_id, state in seen.items()]
        async with self._connection() as db, db.transaction():
            await db.execute("DELETE FROM sync_seen WHERE source = %s", (source,))
            if rows:
                async with db.cursor() as cursor:
                    await cursor.executemany("INSERT INTO sync_seen VALUES (%s, %s, %s)", rows)
            await db.execute(
                "INSERT INTO sync_polls VALUES (%s, %s) ON CONFLICT (source) DO UPDATE"
                " SET polled_at = EXCLUDED.polled_at", (source, polled_at))

    async def ping(self) -> None:
        await self._fetch("SELECT 1", ())

    async def close(self) -> None:
        await self._pool.close()

    async def _exec(self, sql: str, params: Sequence[Any]) -> None:
        async with self._connection() as db:
            await db.execute(sql, params)

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[Any]:
        async with self._connection() as db:
            cursor = await db.execute(sql, params)
            return await cursor.fetchall()

