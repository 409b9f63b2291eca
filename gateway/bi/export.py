"""Exporting every matching invoice as CSV or NDJSON, streamed with bounded memory.

The export walks the same list the `invoices` query pages through (`paging.walk`: the same
sources, order, pages, filters and read cache), holding one upstream page at a time, and
encodes each page as soon as it arrives. The first page of every source is read before
anything is written, so a source that is down refuses the export up front (the caller sees
which); a source that fails later aborts the stream, so that a partial export is never
mistaken for a whole one.

Columns (CSV header and NDJSON keys, in this order) are `INVOICE_COLUMNS`; NDJSON adds
`line_items` (an array of objects with `LINE_COLUMNS` minus the invoice's keys). The lines
CSV has one row per line item with `LINE_COLUMNS`. One format per column: instants as
`INSTANT_FORMAT` (UTC, microseconds, Z), dates as `YYYY-MM-DD`, amounts, quantities and
rates as plain decimal strings.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from gateway.adapters import Adapter
from gateway.bi.summary import customer_of, vendor_of
from gateway.domain.ids import encode_id
from gateway.domain.records import Invoice, LineItem, Money
from gateway.errors import ExportFailed, UpstreamError
from gateway.lists.loaders import Loaders
from gateway.lists.paging import Chunk, ListRequest, walk

INVOICE_COLUMNS = (
    "id", "source", "remote_id", "type", "number", "status", "status_raw", "approval_status",
    "is_overdue", "issue_date", "due_date", "currency", "subtotal", "tax_total", "total",
    "amount_due", "customer_id", "vendor_id", "purchase_order_number", "terms", "tags",
    "version", "created_at", "updated_at",
)
LINE_COLUMNS = (
    "invoice_id", "source", "invoice_number", "currency", "line_id", "description", "sku",
    "quantity", "unit_price", "tax_rate", "tax_amount", "total",
)
FORMATS = ("csv", "ndjson", "lines-csv")
INSTANT_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # created_at, updated_at


def _decimal(value: Decimal | None) -> str | None:
    """A decimal string as written by hand: never a float, never exponent notation."""
    return None if value is None else format(value, "f")


def _amount(money: Money | None) -> str | None:
    return None if money is None else _decimal(money.amount)


def _instant(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC, always with six fractional digits and a Z
    (`2026-01-15T08:00:00.000000Z`): one format per column whatever the upstream sent, so
    that tools parsing the column with one format (pandas' `parse_dates`) read every row."""
    return None if moment is None else moment.astimezone(UTC).strftime(INSTANT_FORMAT)


def invoice_record(invoice: Invoice) -> dict[str, Any]:
    """One invoice as JSON-ready values under `INVOICE_COLUMNS` (ids are global ids)."""
    customer, vendor = customer_of(invoice), vendor_of(invoice)
    return {
        "id": encode_id("Invoice", invoice.source, invoice.remote_id),
        "source": invoice.source,
        "remote_id": invoice.remote_id,
        "type": invoice.type.value,
        "number": invoice.number,
        "status": invoice.status.value,
        "status_raw": invoice.status_raw,
        "approval_status": invoice.approval_status and invoice.approval_status.value,
        "is_overdue": invoice.is_overdue,
        "issue_date": invoice.issue_date and invoice.issue_date.isoformat(),
        "due_date": invoice.due_date and invoice.due_date.isoformat(),
        "currency": invoice.currency,
        "subtotal": _amount(invoice.subtotal),
        "tax_total": _amount(invoice.tax_total),
        "total": _amount(invoice.total),
        "amount_due": _amount(invoice.amount_due),
        "customer_id": customer and encode_id("Customer", customer.source, customer.remote_id),
        "vendor_id": vendor and encode_id("Vendor", vendor.source, vendor.remote_id),
        "purchase_order_number": invoice.purchase_order_number,
        "terms": invoice.terms,
        "tags": list(invoice.tags),
        "version": invoice.version,
        "created_at": _instant(invoice.created_at),
        "updated_at": _instant(invoice.updated_at),
    }


def line_record(invoice: Invoice, line: LineItem) -> dict[str, Any]:
    """One line item under `LINE_COLUMNS`."""
    return {
        "invoice_id": encode_id("Invoice", invoice.source, invoice.remote_id),
        "source": invoice.source,
        "invoice_number": invoice.number,
        "currency": invoice.currency,
        "line_id": line.id,
        "description": line.description,
        "sku": line.sku,
        "quantity": _decimal(line.quantity),
        "unit_price": _amount(line.unit_price),
        "tax_rate": _decimal(line.tax_rate),
        "tax_amount": _amount(line.tax_amount),
        "total": _amount(line.total),
    }


_INVOICE_KEYS = {"invoice_id", "source", "invoice_number", "currency"}


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(value)
    return str(value)


def _csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([_csv_value(row[column]) for column in columns])
    return out.getvalue().encode()


def header(fmt: str) -> bytes:
    """What an export file starts with: the CSV header row; nothing for NDJSON."""
    if fmt == "ndjson":
        return b""
    columns = LINE_COLUMNS if fmt == "lines-csv" else INVOICE_COLUMNS
    return _csv([dict(zip(columns, columns, strict=True))], columns)


def encode(fmt: str, invoices: Sequence[Invoice]) -> bytes:
    """A page of invoices in `fmt` (csv, ndjson or lines-csv); `ExportFailed` when a line
    item breaks its upstream's wire contract (lines are normalized as they are read)."""
    try:
        return _encode(fmt, invoices)
    except UpstreamError as exc:
        raise ExportFailed([exc]) from exc


def _encode(fmt: str, invoices: Sequence[Invoice]) -> bytes:
    if fmt == "csv":
        return _csv([invoice_record(invoice) for invoice in invoices], INVOICE_COLUMNS)
    if fmt == "lines-csv":
        lines = [line_record(inv, line) for inv in invoices for line in inv.line_items]
        return _csv(lines, LINE_COLUMNS)
    out = io.StringIO()
    for invoice in invoices:
        record = invoice_record(invoice)
        record["line_items"] = [
            {key: value for key, value in line_record(invoice, line).items()
             if key not in _INVOICE_KEYS}
            for line in invoice.line_items
        ]
        out.write(json.dumps(record, separators=(",", ":"), ensure_ascii=False))
        out.write("\n")
    return out.getvalue().encode()


class Export:
    """One export of the list `request`, with its own loaders (as one request has)."""

    def __init__(self, adapters: Mapping[str, Adapter], request: ListRequest) -> None:
        self.request = request
        self.loaders = Loaders(adapters)
        self.total: int | None = None

    async def start(self) -> None:
        """Read each source's first page (kept for the walk); `ExportFailed` if any fails.

        Sets `total` to the number of matching invoices where every source can say."""
        request = self.request

        async def first(name: str) -> Any:
            try:
                page = await self.loaders.source(name).page.load(
                    (request.resource, request.query, 0)
                )
                # Every record is exported: normalizing the first page's now (the walk
                # reuses them) refuses an export whose first page holds a broken record
                # before anything is sent, as for a failed read.
                for _ in page.items:
                    pass
            except UpstreamError as exc:
                return exc
            return page

        pages = await asyncio.gather(*(first(name) for name in request.sources))
        errors = [page for page in pages if isinstance(page, UpstreamError)]
        if errors:
            raise ExportFailed(errors)
        totals = [page.total for page in pages]
        self.total = None if None in totals else sum(totals)

    async def chunks(self) -> AsyncIterator[Chunk]:
        """Every matching invoice, a page at a time, in list order; `ExportFailed` when a
        source fails part way."""
        for name in self.request.sources:
            async for chunk in walk(self.loaders, self.request, name):
                if chunk.error is not None:
                    raise ExportFailed([chunk.error])
                yield chunk

    async def stream(
        self, fmt: str, progress: Callable[[int], None] | None = None
    ) -> AsyncIterator[bytes]:
        """The export in `fmt`, as bytes to write or send as they come."""
        yield header(fmt)
        async for chunk in self.chunks():
            if chunk.records:
                yield encode(fmt, chunk.records)
            if progress is not None:
                progress(len(chunk.records))
