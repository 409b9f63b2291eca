"""The root Mutation (contract "Writes (v2)"): thin translations onto `gateway.writes.exactly_once`.

Each mutation turns its GraphQL input into a `gateway.domain.inputs` draft, lets the gateway's
`Writes` do the work, and answers a payload: the object written, or `userErrors` for what
the client can fix. Upstream failures (5xx, transport, auth) are raised as for reads and
become GraphQL errors with `extensions.source`.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Coroutine
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

import strawberry

from gateway.domain import inputs
from gateway.domain import records as domain
from gateway.domain.ids import decode_id
from gateway.errors import InvalidGlobalId, WriteRefused
from gateway.writes.exactly_once import Writes
from resolvers.context import Info
from resolvers.types import Customer, Invoice, Payment

T = TypeVar("T")
P = TypeVar("P")


def _opt(description: str) -> Any:
    """An optional input field: left out (or null) means "not part of this write"."""
    return strawberry.field(default=None, description=description)


def _req(description: str) -> Any:
    return strawberry.field(description=description)


USER_ERRORS = "What the client can fix; empty when the write succeeded."
KEY = ("A retry with the same key within 24 hours returns the first result and creates "
       "nothing more; the same key with another input is IDEMPOTENCY_KEY_REUSED.")


@strawberry.enum(description="Why a write was refused.")
class UserErrorCode(enum.Enum):
    VALIDATION_FAILED = "VALIDATION_FAILED"
    UNSUPPORTED = "UNSUPPORTED"
    CONFLICT = "CONFLICT"
    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"


@strawberry.type(description="Something about a write's input the client can fix.")
class UserError:
    field: list[str] | None = strawberry.field(
        description='Path to the input field, e.g. ["input", "lineItems", "2", "quantity"]; '
        "null when the problem is the input as a whole."
    )
    message: str = strawberry.field(description="What is wrong, in the upstream's own words "
                                    "where the upstream refused it.")
    code: UserErrorCode = strawberry.field(description="The kind of problem.")


# --- inputs ---------------------------------------------------------------------------
@strawberry.input(description="One invoice line to write.")
class LineItemInput:
    description: str = _req("What is sold or billed.")
    quantity: Decimal = _req("How many units; not negative.")
    unit_price: Decimal = _req("Price of one unit, in major units; not negative.")
    tax_rate: Decimal | None = _opt("Tax in percent, e.g. 20.")
    sku: str | None = _opt("Product code, where the source has one.")

    def draft(self) -> inputs.LineDraft:
        return inputs.LineDraft(self.description, self.quantity, self.unit_price,
                                self.tax_rate, self.sku)


def _lines(lines: list[LineItemInput] | None) -> tuple[inputs.LineDraft, ...] | None:
    return None if lines is None else tuple(line.draft() for line in lines)


@strawberry.input(description="A new invoice in one source.")
class CreateInvoiceInput:
    source: str = strawberry.field(description="The configured source to create it in.")
    line_items: list[LineItemInput] = _req("The lines; at least one.")
    type: domain.InvoiceType | None = _opt("RECEIVABLE or PAYABLE, where the source holds it.")
    number: str | None = _opt("Invoice number; some sources assign one when left out.")
    customer_id: strawberry.ID | None = _opt("The customer (global id, same source).")
    vendor_id: strawberry.ID | None = _opt("The vendor (global id, same source).")
    issue_date: date | None = _opt("Date of issue.")
    due_date: date | None = _opt("Date payment is due; not before the issue date.")
    currency: str | None = _opt("ISO 4217 code.")
    status: domain.InvoiceStatus | None = strawberry.field(
        default=None, description="DRAFT or OPEN, where the source can create it so; "
        "default: the upstream's own."
    )
    purchase_order_number: str | None = _opt("Purchase order reference.")
    terms: str | None = _opt("Payment terms, e.g. Net 30.")
    idempotency_key: str | None = _opt(KEY)

    def draft(self) -> inputs.InvoiceDraft:
        return inputs.InvoiceDraft(
            line_items=_lines(self.line_items) or (), type=self.type, number=self.number,
            customer_id=self.customer_id, vendor_id=self.vendor_id,
            issue_date=self.issue_date, due_date=self.due_date, currency=self.currency,
            status=self.status, purchase_order_number=self.purchase_order_number,
            terms=self.terms,
        )


@strawberry.input(description="Changes to an invoice; fields left out stay as they are.")
class UpdateInvoiceInput:
    id: strawberry.ID = _req("The invoice (global id).")
    version: str | None = _opt("`Invoice.version` as last read: a stale one is CONFLICT.")
    number: str | None = _opt("New invoice number.")
    issue_date: date | None = _opt("New date of issue.")
    due_date: date | None = _opt("New due date.")
    purchase_order_number: str | None = _opt("New purchase order reference.")
    terms: str | None = _opt("New payment terms.")
    line_items: list[LineItemInput] | None = strawberry.field(
        default=None, description="Replaces every line."
    )

    def changes(self) -> inputs.InvoiceChanges:
        return inputs.InvoiceChanges(
            number=self.number, issue_date=self.issue_date, due_date=self.due_date,
            purchase_order_number=self.purchase_order_number, terms=self.terms,
            line_items=_lines(self.line_items),
        )


@strawberry.input(description="A status change, as far as the source allows it.")
class SetInvoiceStatusInput:
    id: strawberry.ID = _req("The invoice (global id).")
    status: domain.InvoiceStatus = _req("The status to move to.")
    version: str | None = _opt("`Invoice.version` as last read: a stale one is CONFLICT.")


@strawberry.input(description="An invoice to delete.")
class DeleteInvoiceInput:
    id: strawberry.ID = _req("The invoice (global id).")


@strawberry.input(description="A payment received against an invoice.")
class RecordPaymentInput:
    invoice_id: strawberry.ID = _req("The invoice paid (global id).")
    amount: Decimal = _req("In the invoice's currency, major units; more than 0.")
    date: date = _req("When it was paid.")
    method: str | None = _opt("How it was paid, where the source records that.")
    number: str | None = _opt("Payment number (required by some sources).")
    idempotency_key: str | None = _opt(KEY)

    def draft(self) -> inputs.PaymentDraft:
        return inputs.PaymentDraft(self.invoice_id, self.amount, self.date, self.method,
                                   self.number)


@strawberry.input(description="A postal address.")
class AddressInput:
    line1: str | None = _opt("First street line.")
    line2: str | None = _opt("Second street line.")
    city: str | None = _opt("City or town.")
    region: str | None = _opt("State, province or region.")
    postal_code: str | None = _opt("Postal or ZIP code.")
    country: str | None = _opt("ISO 3166 alpha-2 code.")


def _customer(
    name: str | None, email: str | None, phone: str | None, address: AddressInput | None
) -> inputs.CustomerDraft:
    postal = None if address is None else domain.Address(
        address.line1, address.line2, address.city, address.region, address.postal_code,
        address.country,
    )
    return inputs.CustomerDraft(name, email, phone, postal)


@strawberry.input(description="A new customer in one source.")
class CreateCustomerInput:
    source: str = _req("The configured source to create it in.")
    name: str = _req("The customer's name.")
    email: str | None = _opt("Email address.")
    phone: str | None = _opt("Phone number.")
    address: AddressInput | None = _opt("Billing address.")
    idempotency_key: str | None = _opt(KEY)


@strawberry.input(description="Changes to a customer; fields left out stay as they are.")
class UpdateCustomerInput:
    id: strawberry.ID = _req("The customer (global id).")
    name: str | None = _opt("New name.")
    email: str | None = _opt("New email address.")
    phone: str | None = _opt("New phone number.")
    address: AddressInput | None = _opt("New billing address (replaces it).")


@strawberry.input(description="A scanned bill for the source to read (MakersHub OCR).")
class SubmitInvoiceDocumentInput:
    source: str = _req("The configured source to read it.")
    filename: str = _req("The file's name.")
    content_base64: str = _req("The file, base64-encoded.")
    content_type: str | None = _opt("Media type; default application/pdf.")
    idempotency_key: str | None = _opt(KEY)


# --- payloads -------------------------------------------------------------------------
@strawberry.type(description="What createInvoice did.")
class CreateInvoicePayload:
    invoice: Invoice | None = _req("The invoice created, as the source holds it.")
    user_errors: list[UserError] = _req(USER_ERRORS)


@strawberry.type(description="What updateInvoice did.")
class UpdateInvoicePayload:
    invoice: Invoice | None = _req("The invoice after the change.")
    user_errors: list[UserError] = _req(USER_ERRORS)


@strawberry.type(description="What setInvoiceStatus did.")
class SetInvoiceStatusPayload:
    invoice: Invoice | None = _req("The invoice in its new status.")
    user_errors: list[UserError] = _req(USER_ERRORS)


@strawberry.type(description="What deleteInvoice did.")
class DeleteInvoicePayload:
    deleted_id: strawberry.ID | None = _req("The id of the invoice deleted.")
    user_errors: list[UserError] = _req(USER_ERRORS)


@strawberry.type(description="What recordPayment did.")
class RecordPaymentPayload:
    payment: Payment | None = _req("The payment recorded, with its `invoice`.")
    user_errors: list[UserError] = _req(USER_ERRORS)


@strawberry.type(description="What createCustomer did.")
class CreateCustomerPayload:
    customer: Customer | None = _req("The customer created.")
    user_errors: list[UserError] = _req(USER_ERRORS)


@strawberry.type(description="What updateCustomer did.")
class UpdateCustomerPayload:
    customer: Customer | None = _req("The customer after the change.")
    user_errors: list[UserError] = _req(USER_ERRORS)


@strawberry.type(description="What submitInvoiceDocument did.")
class SubmitInvoiceDocumentPayload:
    invoice: Invoice | None = _req(
        "The invoice the document became; its fields stay empty until the upstream has "
        "read the document."
    )
    user_errors: list[UserError] = _req(USER_ERRORS)

def _writes(info: Info) -> Writes:
    writes = info.context.writes
    if writes is None:  # pragma: no cover - the app always provides it
        raise RuntimeError("this context has no write side")
    return writes


def _source_of(global_id: str) -> str | None:
    try:
        return decode_id(global_id).source
    except InvalidGlobalId:
        return None  # the write itself reports the bad id


def _forbidden(info: Info, source: str | None) -> UserError | None:
    """FORBIDDEN when the caller may not write to `source` (decided before any request);
    unknown sources are left to the write's own checks."""
    context = info.context
    if source is None or source not in context.configured:
        return None
    if context.identity.may_write(source):
        return None
    return UserError(field=None, code=UserErrorCode.FORBIDDEN,
                     message=f"client {context.identity.client!r} may not write to source "
                     f"{source!r}")


async def _answer(
    work: Awaitable[T], payload: Callable[..., P], field: str, view: Callable[[T], Any],
    refusal: UserError | None = None,
) -> P:
    """`payload(<field>=view(result), user_errors=[])`, or the refusal as user errors."""
    if refusal is not None:
        if isinstance(work, Coroutine):
            work.close()  # never started: nothing was sent
        return payload(**{field: None}, user_errors=[refusal])
    try:
        made = await work
    except WriteRefused as exc:
        errors = [
            UserError(field=list(p.field) if p.field else None, message=p.message,
                      code=UserErrorCode(p.code))
            for p in exc.problems
        ]
        return payload(**{field: None}, user_errors=errors)
    return payload(**{field: view(made)}, user_errors=[])


@strawberry.type(description="Writes to the sources (contract \"Writes (v2)\").")
class Mutation:
    @strawberry.mutation(description="Create an invoice in one source.")
    async def create_invoice(
        self, info: Info, input: CreateInvoiceInput
    ) -> CreateInvoicePayload | None:
        work = _writes(info).create_invoice(
            info.context.caller, input.source, input.draft(), input.idempotency_key
        )
        return await _answer(work, CreateInvoicePayload, "invoice", Invoice.of,
                             _forbidden(info, input.source))

    @strawberry.mutation(description="Change an invoice's fields or replace its lines.")
    async def update_invoice(
        self, info: Info, input: UpdateInvoiceInput
    ) -> UpdateInvoicePayload | None:
        work = _writes(info).update_invoice(
            info.context.caller, input.id, input.changes(), input.version
        )
        return await _answer(work, UpdateInvoicePayload, "invoice", Invoice.of,
                             _forbidden(info, _source_of(input.id)))

    @strawberry.mutation(description="Move an invoice to another status (issue it, pay it).")
    async def set_invoice_status(
        self, info: Info, input: SetInvoiceStatusInput
    ) -> SetInvoiceStatusPayload | None:
        work = _writes(info).set_invoice_status(
            info.context.caller, input.id, input.status, input.version
        )
        return await _answer(work, SetInvoiceStatusPayload, "invoice", Invoice.of,
                             _forbidden(info, _source_of(input.id)))

    @strawberry.mutation(description="Delete an invoice, where the source allows it.")
    async def delete_invoice(
        self, info: Info, input: DeleteInvoiceInput
    ) -> DeleteInvoicePayload | None:
        work = _writes(info).delete_invoice(info.context.caller, input.id)
        return await _answer(work, DeleteInvoicePayload, "deleted_id", strawberry.ID,
                             _forbidden(info, _source_of(input.id)))

    @strawberry.mutation(description="Record a payment against an invoice.")
    async def record_payment(
        self, info: Info, input: RecordPaymentInput
    ) -> RecordPaymentPayload | None:
        work = _writes(info).record_payment(
            info.context.caller, input.draft(), input.idempotency_key
        )
        return await _answer(work, RecordPaymentPayload, "payment", Payment.of,
                             _forbidden(info, _source_of(input.invoice_id)))

    @strawberry.mutation(description="Create a customer in one source.")
    async def create_customer(
        self, info: Info, input: CreateCustomerInput
    ) -> CreateCustomerPayload | None:
        draft = _customer(input.name, input.email, input.phone, input.address)
        work = _writes(info).create_customer(
            info.context.caller, input.source, draft, input.idempotency_key
        )
        return await _answer(work, CreateCustomerPayload, "customer", Customer.of,
                             _forbidden(info, input.source))

    @strawberry.mutation(description="Change a customer's details.")
    async def update_customer(
        self, info: Info, input: UpdateCustomerInput
    ) -> UpdateCustomerPayload | None:
        draft = _customer(input.name, input.email, input.phone, input.address)
        work = _writes(info).update_customer(info.context.caller, input.id, draft)
        return await _answer(work, UpdateCustomerPayload, "customer", Customer.of,
                             _forbidden(info, _source_of(input.id)))

    @strawberry.mutation(description="Hand a scanned bill to the source to read (OCR).")
    async def submit_invoice_document(
        self, info: Info, input: SubmitInvoiceDocumentInput
    ) -> SubmitInvoiceDocumentPayload | None:
        draft = inputs.DocumentDraft(input.filename, input.content_base64, input.content_type)
        work = _writes(info).submit_document(
            info.context.caller, input.source, draft, input.idempotency_key
        )
        return await _answer(work, SubmitInvoiceDocumentPayload, "invoice", Invoice.of,
                             _forbidden(info, input.source))
