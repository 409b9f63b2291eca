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
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from gateway.errors import ConfigError
from gateway.state import DELIVERY_TTL, IDEMPOTENCY_TTL, IdempotencyRecord, StateStore

# Taken while creating tables: an arbitrary constant shared by every replica.
_SCHEMA_LOCK = 0x1D3A_5E7E
_SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency (
    scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL,
    result TEXT, created_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (scope, key));
CREATE TABLE IF NOT EXISTS deliveries (
    source TEXT NOT NULL, delivery_id TEXT NOT NULL, accepted_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (source, delivery_id));
CREATE TABLE IF NOT EXISTS invoice_index (
    source TEXT NOT NULL, remote_id BIGINT NOT NULL, PRIMARY KEY (source, remote_id));
"""
# A new claim inserts; an expired record is taken over; a live one is left alone (no row).
_CLAIM = """
INSERT INTO idempotency AS old (scope, key, fingerprint, result, created_at)
VALUES (%s, %s, %s, NULL, %s)
ON CONFLICT (scope, key) DO UPDATE
    SET fingerprint = EXCLUDED.fingerprint, result = NULL, created_at = EXCLUDED.created_at
    WHERE old.created_at <= EXCLUDED.created_at - %s
RETURNING 1
"""
CONNECT_TIMEOUT = 10


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


class PostgresState(StateStore):
    """State in a PostgreSQL database, shared by every replica configured with it."""

    def __init__(self, url: str, max_size: int = 10) -> None:
        self.url = url
        self._pool = AsyncConnectionPool(
            url, min_size=1, max_size=max_size, open=False, timeout=CONNECT_TIMEOUT,
            kwargs={"autocommit": True},
        )
        self._started = False
        self._starting = asyncio.Lock()

    async def start(self) -> None:
        """Connect and create the tables; a database that cannot be reached is named."""
        async with self._starting:
            if self._started:
                return
            try:
                # One direct connection first: its error names the cause (refused, unknown
                # database, authentication) where the pool would only report a timeout.
                db = await AsyncConnection.connect(self.url, connect_timeout=CONNECT_TIMEOUT)
                async with db, db.transaction():
                    await db.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                    await db.execute(_SCHEMA)
                await self._pool.open(wait=True, timeout=CONNECT_TIMEOUT)
            except Exception as exc:
                await self._pool.close()
                text = str(exc).strip()
                reason = text.splitlines()[0] if text else type(exc).__name__
                raise ConfigError(
                    f"state store {redacted(self.url)}: cannot use the database: {reason}"
                ) from None
            self._started = True

    async def _db(self) -> AsyncConnectionPool[AsyncConnection[Any]]:
        if not self._started:
            await self.start()
        return self._pool

    async def claim_idempotency(
        self, scope: str, key: str, fingerprint: str, now: float | None = None
    ) -> IdempotencyRecord | None:
        at = time.time() if now is None else now
        pool = await self._db()
        async with pool.connection() as db:
            # Loops only when a concurrent release removes the live record between the two
            # statements; the next claim then inserts.
            while True:
                claimed = await db.execute(_CLAIM, (scope, key, fingerprint, at, IDEMPOTENCY_TTL))
                if await claimed.fetchone() is not None:
                    return None
                found = await db.execute(
                    "SELECT fingerprint, result, created_at FROM idempotency"
                    " WHERE scope = %s AND key = %s",
                    (scope, key),
                )
                row = await found.fetchone()
                if row is not None:
                    return IdempotencyRecord(row[0], row[1], float(row[2]))

    async def complete_idempotency(self, scope: str, key: str, result: str) -> None:
        await self._exec(
            "UPDATE idempotency SET result = %s WHERE scope = %s AND key = %s",
            (result, scope, key),
        )

    async def release_idempotency(self, scope: str, key: str) -> None:
        await self._exec(
            "DELETE FROM idempotency WHERE scope = %s AND key = %s AND result IS NULL",
            (scope, key),
        )

    async def remember_delivery(
        self, source: str, delivery_id: str, now: float | None = None
    ) -> bool:
        at = time.time() if now is None else now
        pool = await self._db()
        async with pool.connection() as db:
            await db.execute("DELETE FROM deliveries WHERE accepted_at < %s", (at - DELIVERY_TTL,))
            cursor = await db.execute(
                "INSERT INTO deliveries VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                (source, delivery_id, at),
            )
            return cursor.rowcount == 1

    async def index_add(self, source: str, remote_ids: Iterable[int]) -> None:
        rows = [(source, int(remote_id)) for remote_id in remote_ids]
        if rows:
            pool = await self._db()
            async with pool.connection() as db, db.cursor() as cursor:
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

    async def ping(self) -> None:
        await self._fetch("SELECT 1", ())

    async def close(self) -> None:
        await self._pool.close()

    async def _exec(self, sql: str, params: Sequence[Any]) -> None:
        pool = await self._db()
        async with pool.connection() as db:
            await db.execute(sql, params)

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[Any]:
        pool = await self._db()
        async with pool.connection() as db:
            cursor = await db.execute(sql, params)
            return await cursor.fetchall()

