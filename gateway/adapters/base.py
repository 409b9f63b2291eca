"""The one small interface every upstream adapter implements.

An adapter owns its upstream's auth headers, pagination and normalization: only unified
domain objects (`gateway.domain.records`) leave it, and every failure leaves as an `UpstreamError`.
It declares what it can do in `capabilities`; the gateway never calls what is not declared.
Writes are declared the same way, with `write_rules` saying which input fields and status
moves the upstream can take, so that the gateway refuses the rest before any request.

Lists are read in fixed-size pages (`page_size` records, page 0 first) in an order that
is stable for an unchanged upstream. The gateway turns page positions into cursors.
"""

from __future__ import annotations

import asyncio
import enum
import re
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, Generic, TypeVar

from cachetools import LRUCache

from gateway.domain.events import InvoiceEvent
from gateway.domain.inputs import (
    CustomerDraft,
    DocumentDraft,
    InvoiceChanges,
    InvoiceDraft,
    PaymentDraft,
)
from gateway.domain.lazy import LazyTuple
from gateway.domain.records import (
    Customer,
    Invoice,
    InvoiceOrder,
    InvoiceQuery,
    InvoiceStatus,
    InvoiceType,
    Payment,
    Vendor,
    parse_utc,
)
from gateway.errors import (
    UpstreamError,
    UpstreamRejected,
    UpstreamUnsupported,
    UserProblem,
    WebhookRefused,
    WriteRefused,
)
from gateway.source_config import KindSettings, SourceConfig
from gateway.state.base import StateStore
from gateway.support import jsonio, signing
from gateway.upstream.cache import ReadCache
from gateway.upstream.client import ErrorDetail, Params, SourceClient
from gateway.upstream.routes import IdShape

T = TypeVar("T")
K = TypeVar("K")


class Capability(enum.StrEnum):
    LIST_INVOICES = "invoices.list"
    GET_INVOICE = "invoices.get"
    LIST_CUSTOMERS = "customers.list"
    GET_CUSTOMER = "customers.get"
    LIST_VENDORS = "vendors.list"
    GET_VENDOR = "vendors.get"
    LIST_PAYMENTS = "payments.list"
    GET_PAYMENT = "payments.get"
    RECEIVE_WEBHOOKS = "webhooks.receive"
    CREATE_INVOICE = "invoices.create"
    UPDATE_INVOICE = "invoices.update"
    SET_INVOICE_STATUS = "invoices.status"
    DELETE_INVOICE = "invoices.delete"
    SUBMIT_DOCUMENT = "invoices.document"
    RECORD_PAYMENT = "payments.create"
    CREATE_CUSTOMER = "customers.create"
    UPDATE_CUSTOMER = "customers.update"


_NONE: frozenset[str] = frozenset()


@dataclass(frozen=True)
class WriteRules:
    """What of the unified write inputs an upstream can take (field names of
    `gateway.domain.inputs`); anything else is refused as UNSUPPORTED before any request.

    `locks_upstream`: the upstream checks `version` itself (it is sent); otherwise the
    gateway compares it with the current record first. `upstream_idempotency`: the
    upstream honours an idempotency key (it is passed on, besides the gateway's own record).
    """

    create_fields: frozenset[str] = _NONE
    create_types: frozenset[InvoiceType] = frozenset(InvoiceType)
    create_statuses: frozenset[InvoiceStatus] = frozenset()
    update_fields: frozenset[str] = _NONE
    line_fields: frozenset[str] = _NONE
    target_statuses: frozenset[InvoiceStatus] = frozenset()
    payment_fields: frozenset[str] = _NONE
    customer_fields: frozenset[str] = _NONE
    locks_upstream: bool = False
    upstream_idempotency: bool = False


@dataclass(frozen=True)
class Page(Generic[T]):
    """Records `page * page_size` onwards of an upstream list, in the adapter's stable order.

    `total` is the number of records matching the whole query, or None where the upstream
    cannot say (or where the adapter pushed only part of the query down to the upstream;
    the gateway then filters the rest itself). `has_more` says whether a next page exists.
    """

    items: Sequence[T]
    total: int | None
    has_more: bool

    @classmethod
    def lazy(
        cls, records: Sequence[Any], normalize: Callable[[Any], T], total: int | None,
        has_more: bool,
    ) -> Page[T]:
        """A page of raw `records`, each normalized by `normalize` when first read, once
        (`gateway.domain.lazy`): a query that serves part of a page normalizes only that part, and
        the page object, which the normalized cache and in-flight coalescing share between
        requests, keeps every normalization made for the next request."""
        return cls(LazyTuple(records, normalize), total, has_more)


# How far the event time inside a signed webhook body may be from now (either way).
SIGNED_TIME_TOLERANCE = 300


@dataclass(frozen=True)
class WebhookDelivery:
    """A verified webhook delivery: the invoice events it carries (maybe none, for events
    about other resources), when the signed body says its event happened, the upstream's
    delivery id where it sends one, and the event's own id where the body carries one.

    The replay guard (`gateway.web.webhooks`) rests on the signed content, not on headers an
    attacker can change: `signed_at` must be within `SIGNED_TIME_TOLERANCE` of now, and
    `event_id` (or, where the body has none, the body's digest) must be new."""

    events: Sequence[InvoiceEvent]
    signed_at: datetime
    delivery_id: str | None = None
    event_id: str | None = None


def webhook_id(value: Any, where: str) -> str:
    """An invoice id from a webhook body: a positive integer (or its decimal string)."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise WebhookRefused(400, f"{where} must be a positive integer invoice id")
    return str(value)


def signed_time(value: Any, where: str) -> datetime:
    """The event time a signed webhook body states: required, since the replay guard
    checks it."""
    if value is None:
        raise WebhookRefused(400, f"{where} is missing (the event's time, which is signed)")
    try:
        if isinstance(value, str):
            return parse_utc(value)
    except ValueError:
        pass
    raise WebhookRefused(400, f"{where} is not an ISO 8601 time")


class Adapter:
    """Base class: one instance per configured source, living as long as the process.

    A kind's adapter declares, besides its methods, what the upstream registry
    (`gateway.registry`) reads: `kind`, `settings_model`, `capabilities` and `error_detail`.
    """

    kind: ClassVar[str]
    # The keys of a source block that only this kind takes (`config.settings` holds them).
    settings_model: ClassVar[type[KindSettings]] = KindSettings
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    write_rules: ClassVar[WriteRules] = WriteRules()
    # Upstream field name -> unified input name, for mapping a refusal onto the input path.
    wire_fields: ClassVar[Mapping[str, str]] = {}
    page_size: ClassVar[int] = 100
    # Whether the invoice list comes from the gateway's index of the ids it has seen, the
    # upstream listing nothing (MakersHub): `invoice-gateway backfill` and the demo seed
    # the index by probing a range of ids (gateway.events.backfill).
    lists_from_index: ClassVar[bool] = False
    # Smaller page sizes, ascending, that the upstream's invoice list also takes (one that
    # pages by any `limit`): a list page serving few invoices of a query the upstream filters
    # whole (`lists_exactly`) reads the smallest window of these that holds them, aligned
    # to its size, instead of a whole page (gateway.lists.paging). Empty: whole pages only.
    window_sizes: tuple[int, ...] = ()
    # The customer fields (domain attribute names) that an invoice's embedded customer
    # (`Invoice.customer_snapshot`) carries exactly as the customer resource does at the
    # same moment. A query that asks a listed invoice's customer for these alone is then
    # answered from the invoice page, without reading the customers (like a federation
    # subgraph's `@provides`). Empty where the embedded customer may differ (a copy taken
    # when the invoice was issued) or is absent.
    provided_customer_fields: ClassVar[frozenset[str]] = frozenset()
    # The upstream paths the adapter calls, as templates (`/api/invoices/{id}`), and the
    # shape of the upstream's ids (docs/upstreams/). The client checks and encodes every
    # id against it (an id that cannot exist is not found, with no request) and labels its
    # metrics with these templates only.
    routes: ClassVar[frozenset[str]] = frozenset()
    id_shape: ClassVar[IdShape | None] = None

    def __init__(
        self, config: SourceConfig, client: SourceClient, state: StateStore | None = None
    ) -> None:
        self.config = config
        self.client = client
        client.declare(self.route_templates(), self.id_shape)
        # The gateway's durable state; only adapters that keep something there use it.
        self.state = state
        self.normalized = NormalizedCache(config.cache_size)
        self.in_flight = ReadCache(0, 1)  # coalescing only, for the read cache off

    @property
    def name(self) -> str:
        return self.config.name

    def route_templates(self) -> Iterable[str]:
        """The declared `routes` (an adapter whose paths depend on its configuration
        builds them here)."""
        return self.routes

    @staticmethod
    def error_detail(body: bytes) -> ErrorDetail:
        """The human message and field errors of one of this upstream's error bodies (the
        shapes its docs/upstreams/ contract gives); by default a `{"message": "..."}` body.
        The client calls it for every answer of status 400 or more, whatever its body."""
        return error_message(error_object(body).get("message")), {}

    @classmethod
    def headers(cls, config: SourceConfig) -> dict[str, str]:
        """The headers every request to this upstream carries (auth first of all)."""
        return {
            "Authorization": f"Bearer {config.token.get_secret_value()}",
            "Accept": "application/json",
        }

    async def read(
        self,
        path: str,
        params: Params | None,
        normalize: Callable[[Any], T],
        variant: Hashable = None,
        **ids: str,
    ) -> T:
        """GET `path` (a template, its `{name}`s filled from `ids` by the client) through
        the client's read cache and normalize the reply, reusing the normalized result for
        as long as the cache hands back the very same reply.

        `variant` tells apart normalizations of one reply that depend on more than it.
        An adapter reaches its upstream with one credential (its client's), so these keys
        are per credential as the read cache's own keys are.
        """
        pairs = tuple(params.items()) if isinstance(params, Mapping) else tuple(params or ())
        key = (path, pairs, variant, *ids.items())
        if self.client.cache.ttl <= 0:
            # Nothing is kept (a streamed export must not pile up pages), but reads in
            # flight together share one call and one normalization.
            async def fetch() -> T:
                return normalize(await self.client.get_json(path, params, **ids))

            served = await self.in_flight.get_or_fetch(key, fetch)
            value: T = served.value
            return value
        body = await self.client.get_json(path, params, **ids)
        return self.normalized.get(key, body, normalize)

    def unsupported(self, what: str) -> UpstreamUnsupported:
        return UpstreamUnsupported(self.name, f"{self.kind} offers no way to {what}")

    # --- invoices -------------------------------------------------------------------
    async def list_invoices(
        self, query: InvoiceQuery, page: int, size: int | None = None
    ) -> Page[Invoice]:
        """One page of invoices; push down what of `query` the upstream can filter.

        `size` is one of `window_sizes` (the page is then records `page * size` onwards),
        or None for `page_size`. Where `sorts(query.order[0])`, the pages run in that order
        by its field (records equal on it in any order; the gateway orders those itself),
        else in the stable order whatever `query.order` says."""
        raise self.unsupported("list invoices")

    def lists_exactly(self, query: InvoiceQuery) -> bool:
        """Whether `list_invoices` pushes all of `query` down: its pages then hold matching
        invoices only, and a page's `has_more` says that a further match exists."""
        return False

    def sorts(self, order: InvoiceOrder) -> bool:
        """Whether `list_invoices` can read in `order` (by its field alone): the upstream's
        order of that field's values must be the gateway contract's, nulls aside (the
        gateway sets a null aside wherever the upstream puts it)."""
        return False

    def list_position(self, invoice: Invoice) -> tuple[int | str, ...]:
        """Where `invoice` stands in this adapter's stable list order, as a value that
        sorts the same way (the last tie-break of an ordered list, kept in its cursors).
        By default the list runs by ascending id: numeric ids compare as numbers."""
        remote_id = invoice.remote_id
        return (0, int(remote_id)) if remote_id.isdigit() else (1, remote_id)

    async def get_invoice(self, remote_id: str) -> Invoice:
        """One invoice by the upstream's id; `UpstreamNotFound` when it does not exist."""
        raise self.unsupported("get an invoice")

    async def get_invoices(self, remote_ids: Sequence[str]) -> list[Invoice | UpstreamError]:
        """Many invoices: no upstream has a batch read, so bounded concurrent single GETs."""
        return await gather_each(remote_ids, self.get_invoice)

    # --- customers ------------------------------------------------------------------
    async def list_customers(self, page: int) -> Page[Customer]:
        raise self.unsupported("list customers")

    async def get_customer(self, remote_id: str) -> Customer:
        raise self.unsupported("get a customer")

    async def get_customers(self, remote_ids: Sequence[str]) -> list[Customer | UpstreamError]:
        return await gather_each(remote_ids, self.get_customer)

    async def all_customers(self) -> Sequence[Customer] | None:
        """Every customer in one upstream read, where the upstream has such a read (the
        gateway then reads them alongside an invoice page rather than after it); None
        where it would take more than one read."""
        return None

    # --- vendors --------------------------------------------------------------------
    async def list_vendors(self, page: int) -> Page[Vendor]:
        raise self.unsupported("list vendors")

    async def get_vendor(self, remote_id: str) -> Vendor:
        raise self.unsupported("get a vendor")

    async def get_vendors(self, remote_ids: Sequence[str]) -> list[Vendor | UpstreamError]:
        return await gather_each(remote_ids, self.get_vendor)

    # --- payments -------------------------------------------------------------------
    async def list_payments(self, page: int) -> Page[Payment]:
        raise self.unsupported("list payments")

    async def get_payment(self, remote_id: str) -> Payment:
        raise self.unsupported("get a payment")

    async def get_payments(self, remote_ids: Sequence[str]) -> list[Payment | UpstreamError]:
        return await gather_each(remote_ids, self.get_payment)

    async def payments_for_invoices(
        self, invoice_ids: Sequence[str]
    ) -> Mapping[str, Sequence[Payment]]:
        """The payments of each invoice; sources without payments answer none for each."""
        return {invoice_id: () for invoice_id in invoice_ids}

    # --- webhooks -------------------------------------------------------------------
    def read_webhook(
        self, headers: Mapping[str, str], body: bytes, now: float
    ) -> WebhookDelivery:
        """Verify and parse one webhook delivery (`headers` keyed in lower case).

        Raises `WebhookRefused` (with the HTTP status to answer) for anything not to be
        used: no or a wrong signature, a stale timestamp, a body that cannot be read.
        """
        raise WebhookRefused(404, f"source {self.name!r} ({self.kind}) sends no webhooks")

    def check_signature(self, header: str, headers: Mapping[str, str], body: bytes) -> None:
        """Refuse a body whose `header` is not its HMAC-SHA256 with the webhook secret."""
        secret = self.config.webhook_secret
        if secret is None:
            raise WebhookRefused(
                409, f"source {self.name!r} has no webhook_secret configured"
            )
        given = headers.get(header.lower())
        if not given:
            raise WebhookRefused(401, f"missing {header} header (the body's signature)")
        if not signing.matches(secret.get_secret_value(), body, given):
            raise WebhookRefused(401, f"invalid {header} signature")

    async def on_event(self, event: InvoiceEvent) -> None:
        """React to an accepted event before it is published (keep an index, say)."""
        return None

    # --- health ---------------------------------------------------------------------
    async def check(self) -> None:
        """Raise an `UpstreamError` unless the upstream answers an authenticated request."""
        raise self.unsupported("check health")

    # --- writes -----------------------------------------------------------------------
    # The gateway (`gateway.writes.exactly_once`) calls these only for declared capabilities, with
    # inputs already checked against `write_rules`, ids already remote ids of this source,
    # and, where the upstream does not lock, `version` already compared. `key` is the
    # idempotency key to pass on where `write_rules.upstream_idempotency` says so.
    async def create_invoice(self, draft: InvoiceDraft, key: str | None) -> Invoice:
        raise self.unsupported("create an invoice")

    async def update_invoice(
        self, current: Invoice, changes: InvoiceChanges, version: str | None
    ) -> Invoice:
        """Apply `changes` to `current` (read fresh just before)."""
        raise self.unsupported("update an invoice")

    async def set_invoice_status(
        self, current: Invoice, status: InvoiceStatus, version: str | None
    ) -> Invoice:
        raise self.unsupported("change an invoice's status")

    async def delete_invoice(self, current: Invoice) -> None:
        raise self.unsupported("delete an invoice")

    async def record_payment(
        self, invoice: Invoice, draft: PaymentDraft, key: str | None
    ) -> Payment:
        raise self.unsupported("record a payment")

    async def create_customer(self, draft: CustomerDraft, key: str | None) -> Customer:
        raise self.unsupported("create a customer")

    async def update_customer(self, current: Customer, draft: CustomerDraft) -> Customer:
        raise self.unsupported("update a customer")

    async def submit_document(self, draft: DocumentDraft, key: str | None) -> Invoice:
        raise self.unsupported("submit an invoice document")

    # --- finding a create of unknown outcome (docs/writes.md) ----------------------------
    # A keyed create passes `key`, the gateway's reference for it, to the create method
    # above: the upstream's idempotency key where `write_rules.upstream_idempotency`, else
    # stored in a field the upstream keeps and can be searched by. After an unknown
    # outcome, these find the record by it: the record, None when the upstream provably
    # has none, or an `UpstreamError` when that cannot be told (UpstreamUnsupported where
    # the upstream keeps nothing to find it by).
    async def find_invoice(self, draft: InvoiceDraft, reference: str) -> Invoice | None:
        raise self.unsupported("find a created invoice again (it keeps no reference)")

    async def find_customer(self, draft: CustomerDraft, reference: str) -> Customer | None:
        raise self.unsupported("find a created customer again (it keeps no reference)")

    async def find_payment(self, draft: PaymentDraft, reference: str) -> Payment | None:
        raise self.unsupported("find a recorded payment again (it keeps no reference)")

    async def find_document(self, draft: DocumentDraft, reference: str) -> Invoice | None:
        raise self.unsupported("find a submitted document again (it keeps no reference)")

    # --- refusals ----------------------------------------------------------------------
    def refusal(self, exc: UpstreamRejected) -> WriteRefused:
        """The user errors for an upstream's 4xx refusal of a write: each field message on
        its input path, with the upstream's own words; a 409 is a CONFLICT."""
        code = "CONFLICT" if exc.status == 409 or self.is_conflict(exc) else "VALIDATION_FAILED"
        problems = [
            UserProblem(code, message, self.input_path(wire))
            for wire, messages in self.refused_fields(exc).items()
            for message in messages
        ]
        return WriteRefused(problems or [UserProblem(code, upstream_words(exc))])

    def refused_fields(self, exc: UpstreamRejected) -> Mapping[str, Sequence[str]]:
        """Upstream field name -> messages (Laravel's `errors` map by default)."""
        return exc.field_errors

    def is_conflict(self, exc: UpstreamRejected) -> bool:
        """Whether a refusal that is not a 409 still means a conflict (a stale lock)."""
        return False

    def input_path(self, wire: str) -> tuple[str, ...] | None:
        """`lineItem.2.quantity` or `lines[2].quantity` -> ("input", "lineItems", "2",
        "quantity"); None when a part names no input field."""
        path = ["input"]
        for part in filter(None, re.split(r"[.\[\]]+", wire)):
            name = part if part.isdigit() else self.wire_fields.get(part)
            if name is None:
                return None
            path.append(name)
        return tuple(path) if len(path) > 1 else None


def error_object(body: bytes) -> dict[str, Any]:
    """An error reply's JSON object; empty when the body is not one (an HTML page from a
    proxy, say)."""
    try:
        data = jsonio.loads(body)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def error_message(value: Any) -> str | None:
    """An upstream's error message as the gateway repeats it: text, at most 300 characters."""
    return str(value)[:300] if value else None


def laravel_error_detail(body: bytes) -> ErrorDetail:
    """Laravel's error body, `{"message": "...", "errors": {"<field>": ["<text>"]}}` (Makini
    and Invoicematic answer with it)."""
    data = error_object(body)
    fields: dict[str, list[str]] = {}
    errors = data.get("errors")
    if isinstance(errors, dict):
        for key, value in errors.items():
            items = value if isinstance(value, list) else [value]
            fields[str(key)] = [str(item) for item in items]
    return error_message(data.get("message")), fields


def upstream_words(exc: UpstreamError) -> str:
    """The upstream's own message, without the gateway's "METHOD /path: HTTP 4xx: " prefix."""
    return re.sub(r"^[A-Z]+ \S*: HTTP \d+: ", "", exc.message)


class NormalizedCache:
    """Normalized domain objects of cached replies, one per (request, variant).

    An entry is used only while the read cache returns the identical reply object it was
    made from, so it is never staler than the read cache, needs no invalidation of its own
    (a write, a webhook or expiry replaces the reply, and with it the entry) and keeps the
    read cache's keying by credential. Normalizing is synchronous once the reply is in, so
    concurrent requests that shared one upstream call also share one normalization.
    Domain objects are frozen, so sharing them across requests is safe.
    """

    def __init__(self, maxsize: int) -> None:
        self._entries: LRUCache[Hashable, tuple[Any, Any]] = LRUCache(max(maxsize, 1))
        self.hits = 0

    def get(self, key: Hashable, body: Any, normalize: Callable[[Any], T]) -> T:
        entry = self._entries.get(key)
        if entry is not None and entry[0] is body:
            self.hits += 1
            value: T = entry[1]
            return value
        value = normalize(body)
        self._entries[key] = (body, value)
        return value


async def gather_each(
    keys: Sequence[K], fetch: Callable[[K], Awaitable[T]]
) -> list[T | UpstreamError]:
    """Fetch every key concurrently (the client bounds concurrency per source); a failure
    becomes that key's result instead of failing the others."""

    async def one(key: K) -> T | UpstreamError:
        try:
            return await fetch(key)
        except UpstreamError as exc:
            return exc

    return list(await asyncio.gather(*(one(key) for key in keys)))


async def read_all_pages(
    fetch: Callable[[int], Awaitable[Page[T]]], max_pages: int = 1000
) -> list[T]:
    """Every record of a paged list, page after page."""
    items: list[T] = []
    for page in range(max_pages):
        result = await fetch(page)
        items.extend(result.items)
        if not result.has_more:
            break
    return items


def json_number(value: Decimal) -> int | float:
    """A Decimal as a JSON number for upstreams whose wire has numbers (never strings).

    An integral value goes as an int. Otherwise float: for a value of at most 15
    significant digits (every amount and quantity here), the float's shortest repr, which
    json.dumps writes, is exactly the decimal digits given ("49.99", never 49.98999...).
    """
    if value == value.to_integral_value():
        return int(value)
    return float(value)
