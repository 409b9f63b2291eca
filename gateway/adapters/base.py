"""The one small interface every upstream adapter implements.

An adapter owns its upstream's auth headers, pagination and normalization: only unified
domain objects (`gateway.domain`) leave it, and every failure leaves as an `UpstreamError`.
It declares what it can do in `capabilities`; the gateway never calls what is not declared.

Lists are read in fixed-size pages (`page_size` records, page 0 first) in an order that
is stable for an unchanged upstream. The gateway turns page positions into cursors.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar

from gateway import signing
from gateway.config import SourceConfig
from gateway.domain import Customer, Invoice, InvoiceQuery, Payment, Vendor, parse_utc
from gateway.errors import UpstreamError, UpstreamUnsupported, WebhookRefused
from gateway.events import InvoiceEvent
from gateway.http import SourceClient
from gateway.state import StateStore

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


@dataclass(frozen=True)
class WebhookDelivery:
    """A verified webhook delivery: the invoice events it carries (maybe none, for events
    about other resources) and the upstream's delivery id where it sends one."""

    events: Sequence[InvoiceEvent]
    delivery_id: str | None = None


def webhook_id(value: Any, where: str) -> str:
    """An invoice id from a webhook body: a positive integer (or its decimal string)."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise WebhookRefused(400, f"{where} must be a positive integer invoice id")
    return str(value)


def webhook_time(value: Any, where: str) -> datetime:
    """When a webhook's event happened: its ISO 8601 field, else now (none was sent)."""
    if value is None:
        return datetime.now(UTC)
    try:
        if isinstance(value, str):
            return parse_utc(value)
    except ValueError:
        pass
    raise WebhookRefused(400, f"{where} is not an ISO 8601 time")


class Adapter:
    """Base class: one instance per configured source, living as long as the process."""

    kind: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    page_size: ClassVar[int] = 100

    def __init__(
        self, config: SourceConfig, client: SourceClient, state: StateStore | None = None
    ) -> None:
        self.config = config
        self.client = client
        # The gateway's durable state; only adapters that keep something there use it.
        self.state = state

    @property
    def name(self) -> str:
        return self.config.name

    @classmethod
    def headers(cls, config: SourceConfig) -> dict[str, str]:
        """The headers every request to this upstream carries (auth first of all)."""
        return {
            "Authorization": f"Bearer {config.token.get_secret_value()}",
            "Accept": "application/json",
        }

    def unsupported(self, what: str) -> UpstreamUnsupported:
        return UpstreamUnsupported(self.name, f"{self.kind} offers no way to {what}")

    # --- invoices -------------------------------------------------------------------
    async def list_invoices(self, query: InvoiceQuery, page: int) -> Page[Invoice]:
        """One page of invoices; push down what of `query` the upstream can filter."""
        raise self.unsupported("list invoices")

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
