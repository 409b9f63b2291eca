"""Write orchestration (contract "Writes (v2)"): every mutation passes through here.

The order is the contract's promise: the gateway's own checks (the source exists and can
do this, the input uses only what that upstream can take, the values make sense, ids belong
to that source) all come before any upstream request, so a refusal there costs nothing
upstream. Then, per record, one write at a time in this process: the current record is
read fresh, `version` compared where the upstream does not lock itself, and the adapter
writes. Creating writes with an `idempotencyKey` are claimed in the state store first, so
a retry returns the first result and never makes a second record upstream, also when the
first write's outcome is unknown (a timeout after sending, a gateway killed mid-write):
such a claim is reconciled with the upstream first (docs/writes.md).

What the client can fix leaves as `WriteRefused` (user errors); transport failures, 5xx and
upstream auth failures leave as `UpstreamError` (GraphQL errors), exactly as for reads.
Nothing here retries a write.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import date
from typing import Any, Protocol, TypeVar

from gateway.adapters import Adapter, Capability
from gateway.domain.changes import version_of
from gateway.domain.events import InvoiceEventType
from gateway.domain.ids import decode_id, encode_id
from gateway.domain.inputs import (
    CustomerDraft,
    DocumentDraft,
    Draft,
    InvoiceChanges,
    InvoiceDraft,
    LineDraft,
    PaymentDraft,
    given,
    input_name,
)
from gateway.domain.records import ISO_4217, Customer, Invoice, InvoiceStatus, InvoiceType, Payment
from gateway.errors import (
    InvalidGlobalId,
    StateUnavailable,
    UpstreamError,
    UpstreamNotFound,
    UpstreamRateLimited,
    UpstreamRejected,
    UserProblem,
    WriteOutcomeUnknown,
    WriteRefused,
)
from gateway.events.hub import EventHub
from gateway.state.base import StateStore

T = TypeVar("T")
logger = logging.getLogger("invoice_gateway.writes")


class _Remote(Protocol):
    @property
    def remote_id(self) -> str: ...


R = TypeVar("R", bound=_Remote)
ANONYMOUS = "anonymous"
# Who holds a claim: this process. Its lease covers the longest write (a payment reads its
# invoice, then writes: two calls, each bounded by the source's timeout) plus a margin;
# past it, the process is presumed dead and the claim's outcome unknown.
OWNER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
LEASE_MARGIN = 5.0
REFERENCE_PREFIX = "gw-"
REFERENCE_DIGITS = 24
MAX_DIGITS = 15  # what a JSON number (an IEEE double) holds exactly


class KeyedLocks:
    """One asyncio lock per key, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class Writes:
    """The write side of the gateway: one per process, opened in the app's lifespan.

    `caller` names who writes (the authenticated client, or "anonymous"): idempotency keys
    are scoped by caller and source, so two clients never see each other's results.
    """

    def __init__(
        self, adapters: Mapping[str, Adapter], store: StateStore, events: EventHub | None = None
    ) -> None:
        self.adapters = adapters
        # Where successful writes are published (origin GATEWAY); None publishes nothing.
        self.events = events
        self.store = store
        self.locks = KeyedLocks()

    # --- invoices ---------------------------------------------------------------------
    async def create_invoice(
        self, caller: str, source: str, draft: InvoiceDraft, key: str | None
    ) -> Invoice:
        adapter = self._source(source)
        _require(adapter, Capability.CREATE_INVOICE, "create invoices")
        rules = adapter.write_rules
        problems = _unsupported(adapter, draft, rules.create_fields | {"line_items"})
        # (a field the source cannot take at all is already named above)
        status_taken = "status" in rules.create_fields
        if status_taken and draft.status is not None and draft.status not in rules.create_statuses:
            problems.append(_cannot(adapter, f"create an invoice in status {draft.status.value}",
                                    "status"))
        if "type" in rules.create_fields and draft.type is not None and (
            draft.type not in rules.create_types
        ):
            problems.append(_cannot(adapter, f"hold {draft.type.value} invoices", "type"))
        problems += _line_support(adapter, draft.line_items)
        _raise(problems)
        # Every problem of the values at once, so that one answer lists all to fix.
        problems = _check_lines(draft.line_items) + _check_invoice_fields(draft)
        ids: dict[str, str | None] = {}
        for name, type_name, value in (("customer_id", "Customer", draft.customer_id),
                                       ("vendor_id", "Vendor", draft.vendor_id)):
            try:
                ids[name] = self._own_id(adapter, value, type_name, input_name(name))
            except WriteRefused as exc:
                problems += exc.problems
        _raise(problems)
        resolved = _replace(draft, **ids)

        invoice = await self._once(
            caller, adapter, "createInvoice", resolved, key,
            lambda reference: adapter.create_invoice(resolved, reference),
            adapter.get_invoice,
            lambda reference: adapter.find_invoice(resolved, reference),
        )
        await self._written(adapter, "invoice.created", invoice.remote_id)
        return invoice

    async def update_invoice(
        self, caller: str, invoice_id: str, changes: InvoiceChanges, version: str | None
    ) -> Invoice:
        adapter, remote_id = self._target(invoice_id, "Invoice", "id")
        _require(adapter, Capability.UPDATE_INVOICE, "edit invoices")
        problems = _unsupported(adapter, changes, adapter.write_rules.update_fields)
        problems += _line_support(adapter, changes.line_items or ())
        _raise(problems)
        if not given(changes):
            raise WriteRefused.one("VALIDATION_FAILED", "nothing to update: give at least one "
                                   "of number, issueDate, dueDate, purchaseOrderNumber, terms, "
                                   "lineItems")
        problems = _check_invoice_fields(changes)
        if changes.line_items is not None:
            problems += _check_lines(changes.line_items)
        _raise(problems)
        async with self.locks.hold((adapter.name, remote_id)):
            current = await self._current(adapter, remote_id, version)
            invoice = await _upstream(adapter, adapter.update_invoice(current, changes, version))
        await self._written(adapter, "invoice.updated", remote_id,
                            version_of(invoice.updated_at))
        return invoice

    async def set_invoice_status(
        self, caller: str, invoice_id: str, status: InvoiceStatus, version: str | None
    ) -> Invoice:
        adapter, remote_id = self._target(invoice_id, "Invoice", "id")
        _require(adapter, Capability.SET_INVOICE_STATUS, "change an invoice's status")
        if status not in adapter.write_rules.target_statuses:
            reachable = ", ".join(sorted(s.value for s in adapter.write_rules.target_statuses))
            raise WriteRefused([_cannot(
                adapter, f"set status {status.value} (it can set: {reachable})", "status"
            )])
        async with self.locks.hold((adapter.name, remote_id)):
            current = await self._current(adapter, remote_id, version)
            invoice = await _upstream(adapter, adapter.set_invoice_status(current, status, version))
        await self._written(adapter, "invoice.status_changed", remote_id,
                            version_of(invoice.updated_at))
        return invoice

    async def delete_invoice(self, caller: str, invoice_id: str) -> str:
        adapter, remote_id = self._target(invoice_id, "Invoice", "id")
        _require(adapter, Capability.DELETE_INVOICE, "delete invoices")
        async with self.locks.hold((adapter.name, remote_id)):
            current = await self._current(adapter, remote_id, None)
            await _upstream(adapter, adapter.delete_invoice(current))
        await self._written(adapter, "invoice.deleted", remote_id)
        return encode_id("Invoice", adapter.name, remote_id)

    async def submit_document(
        self, caller: str, source: str, draft: DocumentDraft, key: str | None
    ) -> Invoice:
        adapter = self._source(source)
        _require(adapter, Capability.SUBMIT_DOCUMENT, "read invoice documents")
        problems: list[UserProblem] = []
        if not draft.filename.strip():
            problems.append(_invalid("must not be empty", "filename"))
        try:
            content = base64.b64decode(draft.content_base64, validate=True)
        except (binascii.Error, ValueError):
            problems.append(_invalid("is not valid base64", "contentBase64"))
        else:
            if not content:
                problems.append(_invalid("holds no document", "contentBase64"))
        _raise(problems)

        invoice = await self._once(
            caller, adapter, "submitInvoiceDocument", draft, key,
            lambda reference: adapter.submit_document(draft, reference),
            adapter.get_invoice,
            lambda reference: adapter.find_document(draft, reference),
        )
        await self._written(adapter, "invoice.created", invoice.remote_id)
        return invoice

    # --- payments ---------------------------------------------------------------------
    async def record_payment(self, caller: str, draft: PaymentDraft, key: str | None) -> Payment:
        adapter, invoice_id = self._target(draft.invoice_id, "Invoice", "invoiceId")
        _require(adapter, Capability.RECORD_PAYMENT, "record payments")
        extra = {"invoice_id", "amount", "date"} | adapter.write_rules.payment_fields
        _raise(_unsupported(adapter, draft, extra))
        if not draft.amount.is_finite() or draft.amount <= 0:
            raise WriteRefused.one("VALIDATION_FAILED", "must be greater than 0", "amount")
        resolved = _replace(draft, invoice_id=invoice_id)

        async def write(reference: str | None) -> Payment:
            async with self.locks.hold((adapter.name, invoice_id)):
                invoice = await self._current(adapter, invoice_id, None, field="invoiceId")
                return await adapter.record_payment(invoice, resolved, reference)

        payment = await self._once(
            caller, adapter, "recordPayment", resolved, key, write, adapter.get_payment,
            lambda reference: adapter.find_payment(resolved, reference),
        )
        await self._written(adapter, "invoice.paid", invoice_id)
        return payment

    # --- customers --------------------------------------------------------------------
    async def create_customer(
        self, caller: str, source: str, draft: CustomerDraft, key: str | None
    ) -> Customer:
        adapter = self._source(source)
        _require(adapter, Capability.CREATE_CUSTOMER, "create customers")
        _raise(_unsupported(adapter, draft, adapter.write_rules.customer_fields))
        if not (draft.name or "").strip():
            raise WriteRefused.one("VALIDATION_FAILED", "a customer needs a name", "name")

        customer = await self._once(
            caller, adapter, "createCustomer", draft, key,
            lambda reference: adapter.create_customer(draft, reference),
            adapter.get_customer,
            lambda reference: adapter.find_customer(draft, reference),
        )
        await self._written(adapter, "customer.created", customer.remote_id)
        return customer

    async def update_customer(
        self, caller: str, customer_id: str, draft: CustomerDraft
    ) -> Customer:
        adapter, remote_id = self._target(customer_id, "Customer", "id")
        _require(adapter, Capability.UPDATE_CUSTOMER, "edit customers")
        _raise(_unsupported(adapter, draft, adapter.write_rules.customer_fields))
        if not given(draft):
            raise WriteRefused.one("VALIDATION_FAILED", "nothing to update: give at least one "
                                   "of name, email, phone, address")
        if draft.name is not None and not draft.name.strip():
            raise WriteRefused.one("VALIDATION_FAILED", "must not be empty", "name")
        async with self.locks.hold((adapter.name, "customer", remote_id)):
            adapter.client.cache.clear()  # compare against the upstream, not a cached copy
            try:
                current = await adapter.get_customer(remote_id)
            except UpstreamNotFound:
                raise WriteRefused.one("NOT_FOUND", f"no customer {remote_id} in "
                                       f"{adapter.name}", "id") from None
            customer = await _upstream(adapter, adapter.update_customer(current, draft))
        await self._written(adapter, "customer.updated", remote_id)
        return customer

    # --- steps ------------------------------------------------------------------------
    def _source(self, source: str) -> Adapter:
        adapter = self.adapters.get(source)
        if adapter is None:
            known = ", ".join(self.adapters) or "none"
            raise WriteRefused.one("VALIDATION_FAILED",
                                   f"unknown source {source!r}; configured: {known}", "source")
        return adapter

    def _target(self, global_id: str, type_name: str, field: str) -> tuple[Adapter, str]:
        """The adapter and remote id a global id names."""
        try:
            gid = decode_id(global_id, type_name)
        except InvalidGlobalId as exc:
            raise WriteRefused.one("VALIDATION_FAILED", str(exc), field) from None
        adapter = self.adapters.get(gid.source)
        if adapter is None:
            raise WriteRefused.one(
                "NOT_FOUND", f"{global_id!r} names source {gid.source!r}, which is not "
                "configured", field)
        return adapter, gid.remote_id

    def _own_id(
        self, adapter: Adapter, global_id: str | None, type_name: str, field: str
    ) -> str | None:
        """The remote id of a related record, which must belong to the same source."""
        if global_id is None:
            return None
        other, remote_id = self._target(global_id, type_name, field)
        if other is not adapter:
            raise WriteRefused.one(
                "VALIDATION_FAILED",
                f"is a {type_name} of source {other.name!r}; an invoice of {adapter.name!r} "
                f"can only refer to records of {adapter.name!r}", field)
        return remote_id

    async def _current(
        self, adapter: Adapter, remote_id: str, version: str | None, field: str = "id"
    ) -> Invoice:
        """The invoice as the upstream has it now; with `version` given and an upstream that
        does not lock itself, a stale version is a CONFLICT before anything is written."""
        adapter.client.cache.clear()  # compare against the upstream, not a cached copy
        try:
            current = await adapter.get_invoice(remote_id)
        except UpstreamNotFound:
            raise WriteRefused.one(
                "NOT_FOUND", f"no invoice {remote_id} in {adapter.name}", field) from None
        if (
            version is not None
            and not adapter.write_rules.locks_upstream
            and version != current.version
        ):
            raise WriteRefused.one(
                "CONFLICT",
                f"the invoice changed since version {version!r} (now {current.version!r}); "
                "read it again and retry", "version")
        return current

    async def _once(
        self,
        caller: str,
        adapter: Adapter,
        operation: str,
        draft: Draft,
        key: str | None,
        write: Callable[[str | None], Awaitable[R]],
        replay: Callable[[str], Awaitable[R]],
        find: Callable[[str], Awaitable[R | None]],
    ) -> R:
        """Run a creating `write` at most once per (caller, source, key) within 24 hours,
        through unknown outcomes and crashes (docs/writes.md).

        The claim is stored before the upstream request, with the `reference` the write
        sends along (given to `write`): the upstream's own idempotency key where it has
        one, else a value the adapter puts in a field the upstream stores and can be
        searched by. A write that provably did nothing (refused, never sent) releases the
        claim; one whose request may have arrived marks it *unknown*. A retry of an unknown
        claim, or of one whose owner's lease ran out (a gateway that died mid-write), first
        reconciles: `find(reference)` returns the record made (the claim completes with
        it), None when the upstream provably has none (the write is made now), or fails,
        and the retry is answered WRITE_OUTCOME_UNKNOWN; never is a second record made.
        """
        if key is None:
            return await _upstream(adapter, write(None))
        if not key.strip() or len(key) > 255:
            raise WriteRefused.one("VALIDATION_FAILED", "must be 1-255 characters",
                                   "idempotencyKey")
        scope = f"{caller}\n{adapter.name}"
        fingerprint = hashlib.sha256(f"{operation}\n{draft!r}".encode()).hexdigest()
        # The input is part of it: an upstream replays whatever it answered first,
        # refusals included, and a refused write releases the key for a fixed input.
        reference = REFERENCE_PREFIX + hashlib.sha256(
            f"{scope}\n{key}\n{fingerprint}".encode()).hexdigest()[:REFERENCE_DIGITS]
        lease = lease_seconds(adapter)
        record = await _state(adapter, self.store.claim_idempotency(
            scope, key, fingerprint, reference=reference, owner=OWNER, lease=lease))
        if record is not None:
            if record.fingerprint != fingerprint:
                raise WriteRefused.one(
                    "IDEMPOTENCY_KEY_REUSED",
                    "this idempotencyKey was used with a different input; use a new key",
                    "idempotencyKey")
            if record.result is not None:
                return await replay(json.loads(record.result)["remoteId"])
            if not record.unknown and record.lease_until > time.time() and (
                not _owner_gone(record.owner)
            ):
                raise WriteRefused.one(
                    "CONFLICT", "the first write with this idempotencyKey is still running; "
                    "retry shortly", "idempotencyKey")
            taken = await _state(adapter, self.store.take_over(
                scope, key, record, OWNER, time.time() + lease))
            if not taken:  # another retry is reconciling it this moment
                raise WriteRefused.one(
                    "CONFLICT", "a retry with this idempotencyKey is being reconciled; "
                    "retry shortly", "idempotencyKey")
            reference = record.reference or reference
            found = await self._reconcile(adapter, scope, key, reference, find)
            if found is not None:
                await self._complete(adapter, scope, key, operation, found)
                return found
        try:
            result = await _upstream(adapter, write(reference))
        except BaseException as exc:
            if _did_nothing(exc):
                await _quietly(adapter, self.store.release_idempotency(scope, key, OWNER))
                raise
            await _quietly(adapter, self.store.mark_unknown(scope, key, OWNER))
            if isinstance(exc, UpstreamError):
                raise WriteOutcomeUnknown(
                    adapter.name, f"{exc.message}; the create may have reached "
                    f"{adapter.name}: retry with the same idempotencyKey, which finds it "
                    "there (or, when it is provably not there, creates it once)", key,
                    cause=exc.code,
                ) from None
            raise
        await self._complete(adapter, scope, key, operation, result)
        return result

    async def _reconcile(
        self, adapter: Adapter, scope: str, key: str, reference: str,
        find: Callable[[str], Awaitable[R | None]],
    ) -> R | None:
        """The record a claim of unknown outcome made upstream, or None when there is
        provably none (the write may be made now). Where the upstream honours idempotency
        keys, sending the write again with the same key is that proof: it answers the
        first result or makes the record once."""
        if adapter.write_rules.upstream_idempotency:
            return None
        try:
            return await find(reference)
        except UpstreamError as exc:
            await _quietly(adapter, self.store.mark_unknown(scope, key, OWNER))
            raise WriteOutcomeUnknown(
                adapter.name, f"an earlier create with this idempotencyKey may have reached "
                f"{adapter.name}, and looking for it there failed ({exc.message}); retry "
                "later, or see docs/writes.md (invoice-gateway resolve-write)", key,
                cause=exc.code,
            ) from None

    async def _complete(
        self, adapter: Adapter, scope: str, key: str, operation: str, result: _Remote
    ) -> None:
        """Record the result; a store failing now loses nothing: the claim stays
        unfinished and a retry after its lease reconciles it to this very record."""
        await _quietly(adapter, self.store.complete_idempotency(
            scope, key, json.dumps({"operation": operation, "remoteId": result.remote_id})))

    async def _written(
        self, adapter: Adapter, event: str, remote_id: str, version: str | None = None
    ) -> None:
        """After every successful write: the one place its consequences happen.

        The source's cached reads are dropped so the next read shows the change, and an
        invoice write is published as an event (origin GATEWAY) through the event hub, which
        also keeps the MakersHub index (a MakersHub invoice the gateway created joins it)
        and records the change in the feed (`version`: the invoice's after the write, where
        the write's answer carries it; a poll finding that version is the same change).
        """
        adapter.client.cache.clear()
        kind = GATEWAY_EVENTS.get(event)
        if kind is None or self.events is None:
            return  # customer writes carry no invoice event
        if event == "invoice.paid":
            kind, version = await _paid_or_updated(adapter, remote_id)
        try:
            await self.events.publish_write(adapter.name, remote_id, kind, event,
                                            version=version)
        except StateUnavailable as exc:
            # The write is made: it is answered. (MakersHub's index learns the id when
            # it is next seen.)
            logger.warning("%s: event of %s %s not published (%s)", adapter.name, event,
                           remote_id, exc)


async def _paid_or_updated(
    adapter: Adapter, remote_id: str
) -> tuple[InvoiceEventType, str | None]:
    """A payment is PAID news when it settled its invoice, else the amount due changed;
    with the invoice's version after it."""
    try:
        invoice = await adapter.get_invoice(remote_id)
    except UpstreamError:
        return InvoiceEventType.UPDATED, None
    kind = InvoiceEventType.PAID if invoice.status is InvoiceStatus.PAID else (
        InvoiceEventType.UPDATED)
    return kind, version_of(invoice.updated_at)


# The event each successful write publishes (the payment's is decided by its effect).
GATEWAY_EVENTS: dict[str, InvoiceEventType] = {
    "invoice.created": InvoiceEventType.CREATED,
    "invoice.updated": InvoiceEventType.UPDATED,
    "invoice.status_changed": InvoiceEventType.STATUS_CHANGED,
    "invoice.deleted": InvoiceEventType.DELETED,
    "invoice.paid": InvoiceEventType.PAID,
}


# --- checks that need no upstream ------------------------------------------------------
def _require(adapter: Adapter, capability: Capability, what: str) -> None:
    if capability not in adapter.capabilities:
        raise WriteRefused([_cannot(adapter, what)])


def _cannot(adapter: Adapter, what: str, *field: str | int) -> UserProblem:
    path = ("input", *(str(part) for part in field)) if field else None
    return UserProblem("UNSUPPORTED", f"source {adapter.name!r} ({adapter.kind}) cannot {what}",
                       path)


def _invalid(message: str, *field: str | int) -> UserProblem:
    return UserProblem("VALIDATION_FAILED", message, ("input", *(str(p) for p in field)))


def _raise(problems: Sequence[UserProblem]) -> None:
    if problems:
        raise WriteRefused(list(problems))


def _unsupported(
    adapter: Adapter, draft: Draft, allowed: frozenset[str] | set[str]
) -> list[UserProblem]:
    return [
        _cannot(adapter, f"take {input_name(name)} here", input_name(name))
        for name in given(draft)
        if name not in allowed
    ]


def _line_support(adapter: Adapter, lines: Sequence[LineDraft]) -> list[UserProblem]:
    allowed = {"description", "quantity", "unit_price"} | adapter.write_rules.line_fields
    return [
        _cannot(adapter, f"take {input_name(name)} on a line", "lineItems", index,
                input_name(name))
        for index, line in enumerate(lines)
        for name in given(line)
        if name not in allowed
    ]


def _check_lines(lines: Sequence[LineDraft]) -> list[UserProblem]:
    problems: list[UserProblem] = []
    if not lines:
        problems.append(_invalid("needs at least one line", "lineItems"))
    for index, line in enumerate(lines):
        where = ("lineItems", index)
        if not line.description.strip():
            problems.append(_invalid("must not be empty", *where, "description"))
        for name, value in (("quantity", line.quantity), ("unitPrice", line.unit_price)):
            if not value.is_finite():
                problems.append(_invalid("must be a finite number", *where, name))
            elif value < 0:
                problems.append(_invalid(f"must not be negative (got {value})", *where, name))
            elif len(value.as_tuple().digits) > MAX_DIGITS:
                # Some upstreams carry JSON numbers: beyond this, digits would be lost.
                problems.append(_invalid(f"has more than {MAX_DIGITS} significant digits",
                                         *where, name))
        rate = line.tax_rate
        if rate is not None and (not rate.is_finite() or not 0 <= rate <= 100):
            problems.append(_invalid("must be a percentage from 0 to 100", *where, "taxRate"))
    return problems


def _check_invoice_fields(draft: InvoiceDraft | InvoiceChanges) -> list[UserProblem]:
    problems: list[UserProblem] = []
    if isinstance(draft, InvoiceDraft):
        currency = draft.currency
        if currency is not None and currency.upper() not in ISO_4217:
            problems.append(_invalid(f"{currency!r} is not an ISO 4217 currency code",
                                     "currency"))
        if draft.customer_id is not None and draft.vendor_id is not None:
            problems.append(_invalid("an invoice has a customer or a vendor, not both",
                                     "vendorId"))
        if draft.type is InvoiceType.RECEIVABLE and draft.vendor_id is not None:
            problems.append(_invalid("a RECEIVABLE invoice has no vendor", "vendorId"))
        if draft.type is InvoiceType.PAYABLE and draft.customer_id is not None:
            problems.append(_invalid("a PAYABLE invoice has no customer", "customerId"))
    if draft.number is not None and not draft.number.strip():
        problems.append(_invalid("must not be empty", "number"))
    issued: date | None = draft.issue_date
    if issued is not None and draft.due_date is not None and draft.due_date < issued:
        problems.append(_invalid("must not be before issueDate", "dueDate"))
    return problems


def lease_seconds(adapter: Adapter) -> float:
    """How long a claim's owner may take for its write before it is presumed dead."""
    return 2 * adapter.config.timeout + LEASE_MARGIN


def _owner_gone(owner: str) -> bool:
    """Whether a claim's owner is a process of this host that no longer runs (a gateway
    killed and restarted): its claim need not wait for the lease to run out."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def _did_nothing(exc: BaseException) -> bool:
    """Whether a failed write provably made nothing upstream: refused (a 4xx, or the
    gateway's own refusal), never sent, rate-limited, or a 503 (the server did not take
    the request). Anything else (a timeout after sending, a dropped connection, another
    5xx, a reply that cannot be read, a cancelled request) may have made the record."""
    if isinstance(exc, WriteRefused):
        return True
    if not isinstance(exc, UpstreamError):
        return False
    if exc.unsent or isinstance(exc, UpstreamRateLimited):
        return True
    return exc.status is not None and (400 <= exc.status < 500 or exc.status == 503)


async def _state(adapter: Adapter, call: Awaitable[T]) -> T:
    """Await a state-store call; its failure is STATE_UNAVAILABLE for this source."""
    try:
        return await call
    except StateUnavailable as exc:
        raise exc.for_source(adapter.name) from None


async def _quietly(adapter: Adapter, call: Awaitable[None]) -> None:
    """A claim update that may fail without harm: the claim's lease then runs out, and a
    retry reconciles it (nothing is created twice, nothing is stranded for longer)."""
    try:
        await call
    except StateUnavailable as exc:
        logger.warning("%s: claim not updated (%s); a retry after its lease reconciles it",
                       adapter.name, exc)


async def _upstream(adapter: Adapter, call: Awaitable[T]) -> T:
    """Await an adapter's write; an upstream refusal becomes the client's user errors."""
    try:
        return await call
    except UpstreamRejected as exc:
        raise adapter.refusal(exc) from None
    except UpstreamNotFound as exc:
        raise WriteRefused([UserProblem("NOT_FOUND", exc.message)]) from None


def _replace(draft: Any, **changes: Any) -> Any:
    return replace(draft, **changes)
