"""The unified inputs of writes: what a mutation asks of a source, in domain terms.

Ids are remote ids of the target source by the time an adapter sees them (the gateway
decodes global ids and checks they belong to that source first). A field left None is not
part of the write: an update leaves it as it is, a create leaves it to the upstream.
Field names map one to one onto the GraphQL input (`INPUT_NAMES`), so a refusal can name
the input path.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date
from decimal import Decimal

from gateway.domain.records import Address, InvoiceStatus, InvoiceType

# Python field name -> GraphQL input field name, for paths in user errors.
INPUT_NAMES: dict[str, str] = {
    "line_items": "lineItems",
    "unit_price": "unitPrice",
    "tax_rate": "taxRate",
    "customer_id": "customerId",
    "vendor_id": "vendorId",
    "invoice_id": "invoiceId",
    "issue_date": "issueDate",
    "due_date": "dueDate",
    "purchase_order_number": "purchaseOrderNumber",
    "content_base64": "contentBase64",
    "content_type": "contentType",
}


def input_name(name: str) -> str:
    return INPUT_NAMES.get(name, name)


@dataclass(frozen=True)
class LineDraft:
    description: str
    quantity: Decimal
    unit_price: Decimal
    tax_rate: Decimal | None = None
    sku: str | None = None


@dataclass(frozen=True)
class InvoiceDraft:
    """A new invoice (`createInvoice`)."""

    line_items: tuple[LineDraft, ...]
    type: InvoiceType | None = None
    number: str | None = None
    customer_id: str | None = None
    vendor_id: str | None = None
    issue_date: date | None = None
    due_date: date | None = None
    currency: str | None = None
    status: InvoiceStatus | None = None
    purchase_order_number: str | None = None
    terms: str | None = None


@dataclass(frozen=True)
class InvoiceChanges:
    """Changes to an invoice (`updateInvoice`); `line_items` replaces every line."""

    number: str | None = None
    issue_date: date | None = None
    due_date: date | None = None
    purchase_order_number: str | None = None
    terms: str | None = None
    line_items: tuple[LineDraft, ...] | None = None


@dataclass(frozen=True)
class PaymentDraft:
    """A payment against an invoice (`recordPayment`)."""

    invoice_id: str
    amount: Decimal
    date: date
    method: str | None = None
    number: str | None = None


@dataclass(frozen=True)
class CustomerDraft:
    """A new customer, or the changes to one (`createCustomer`, `updateCustomer`)."""

    name: str | None = None
    email: str | None = None
    phone: str | None = None
    address: Address | None = None


@dataclass(frozen=True)
class DocumentDraft:
    """A scanned bill for the upstream to read (`submitInvoiceDocument`)."""

    filename: str
    content_base64: str
    content_type: str | None = None


Draft = InvoiceDraft | InvoiceChanges | PaymentDraft | CustomerDraft | DocumentDraft


def given(draft: Draft | LineDraft) -> list[str]:
    """The names of the fields a draft sets (not None), in declaration order."""
    return [f.name for f in fields(draft) if getattr(draft, f.name) is not None]
