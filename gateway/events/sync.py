"""Polling a source for its changes (`sync_interval`, docs/changes.md): the change feed's
third path, for sources that send no webhooks (Makini, Cloud Billing).

Each poll reads the source's whole invoice list and compares every invoice's state (its
`updatedAt`, where the source has one, and its status) with what the previous poll saw,
kept in the state store: an invoice new since then is CREATED, one whose state moved is
UPDATED (PAID when it became paid), one gone is DELETED. The first poll of a source only
takes that picture and records nothing. A full read rather than an `updatedAt` filter:
only a full read sees what was deleted (the filtered read of Makini's list cannot).

What another path already reported is not reported again: CREATED, DELETED and versioned
updates share the dedup keys of `gateway.domain.changes`; an update of an invoice that a
webhook reported since the previous poll began is that webhook's (`compare`).

One poller per source, a loop that never overlaps itself (the next poll is `interval`
seconds after the previous one ended); an upstream or state store failure is logged and
the poll is tried again at the next interval.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Mapping
from datetime import UTC, datetime

from gateway.adapters import Adapter, Capability
from gateway.adapters.base import read_all_pages
from gateway.domain.changes import ChangeOrigin, ChangeType, NewChange, dedup_key, version_of
from gateway.domain.records import Invoice, InvoiceQuery, InvoiceStatus
from gateway.errors import UpstreamError
from gateway.events.feed import ChangeFeed
from gateway.upstream.scope import RequestScope, request_scope

logger = logging.getLogger("invoice_gateway.sync")
_PAID = InvoiceStatus.PAID.value
WEBHOOK, GATEWAY = ChangeOrigin.WEBHOOK.value, ChangeOrigin.GATEWAY.value
DIGEST = "sha256:"  # a version that is a digest of the record, not its updatedAt


def state_of(invoice: Invoice) -> str:
    """What a poll remembers of an invoice: `version|status`. The version is its
    `updatedAt`; where a source has none, a digest of the whole normalized record."""
    version = version_of(invoice.updated_at)
    if version is None:
        version = DIGEST + hashlib.sha256(repr(invoice).encode()).hexdigest()[:32]
    return f"{version}|{invoice.status.value}"


def compare(
    source: str, before: Mapping[str, str], now: Mapping[str, str],
    reported: set[tuple[str, str]], at: float,
) -> list[NewChange]:
    """The changes between two pictures of a source (remote id -> `state_of`).

    `reported`: (remote id, origin) of the updates that webhooks and gateway writes recorded
    since the previous poll began. A webhook carries no version, so the dedup key cannot
    match it with what the poll finds: an update of an invoice a webhook reported is taken
    as that webhook's. A gateway write's update is matched by version; only where the
    invoice has no `updatedAt` (a digest stands in) is it taken the same way.
    """
    when = datetime.fromtimestamp(at, UTC)
    changes = []
    for remote_id, state in now.items():
        old = before.get(remote_id)
        if old == state:
            continue
        version, _, status = state.partition("|")
        if old is None:
            kind = ChangeType.CREATED
        else:
            if (remote_id, WEBHOOK) in reported or (
                version.startswith(DIGEST) and (remote_id, GATEWAY) in reported
            ):
                continue
            was_paid = old.partition("|")[2] == _PAID
            kind = ChangeType.PAID if status == _PAID and not was_paid else ChangeType.UPDATED
        key = dedup_key(source, remote_id, kind, version, f"sync|{source}|{remote_id}|{state}")
        changes.append(NewChange(kind, source, remote_id, ChangeOrigin.SYNC, when, key))
    for remote_id in before.keys() - now.keys():
        key = dedup_key(source, remote_id, ChangeType.DELETED, None, "")
        changes.append(NewChange(ChangeType.DELETED, source, remote_id, ChangeOrigin.SYNC,
                                 when, key))
    return changes


class SourcePoller:
    """Polls one source every `interval` seconds into the change feed."""

    def __init__(self, adapter: Adapter, feed: ChangeFeed, interval: float) -> None:
        self.adapter = adapter
        self.feed = feed
        self.interval = interval

    async def poll(self) -> int:
        """One poll: returns how many changes it added to the feed."""
        source = self.adapter.name
        store = self.feed.store
        started = self.feed.clock()
        # Fresh reads only: a cached or stale copy older than the previous poll's picture
        # would read as changes undone.
        with request_scope(RequestScope(fresh=True, bulk=True)):
            invoices = await read_all_pages(
                lambda page: self.adapter.list_invoices(InvoiceQuery(), page),
                max_pages=100_000)
        now = {invoice.remote_id: state_of(invoice) for invoice in invoices}
        previous = await store.sync_seen(source)
        added = 0
        if previous is not None:
            polled_at, before = previous
            reported = await store.reported_since(source, polled_at)
            added = await self.feed.record(compare(source, before, now, reported, started))
        await store.save_sync_seen(source, started, now)
        return added

    async def run(self) -> None:
        """The lifespan's task for this source: poll, wait `interval`, poll again."""
        if Capability.LIST_INVOICES not in self.adapter.capabilities:
            logger.warning("sync_interval of %s ignored: %s cannot list invoices",
                           self.adapter.name, self.adapter.kind)
            return
        while True:
            try:
                added = await self.poll()
                if added:
                    logger.info("sync %s: %d change(s)", self.adapter.name, added)
            except UpstreamError as exc:  # StateUnavailable included
                logger.warning("sync %s failed, next try in %gs: %s", self.adapter.name,
                               self.interval, exc)
            except Exception:
                # A bug must not end the source's polling for the life of the process
                # unseen: logged with its trace, and tried again.
                logger.exception("sync %s failed unexpectedly, next try in %gs",
                                 self.adapter.name, self.interval)
            await asyncio.sleep(self.interval)
