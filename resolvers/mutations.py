"""The root Mutation (contract "Writes (v2)"): thin translations onto `gateway.writes`.

Each mutation turns its GraphQL input into a `gateway.inputs` draft, lets the gateway's
`Writes` do the work, and answers a payload: the object written, or `userErrors` for what
the client can fix. Upstream failures (5xx, transport, auth) are raised as for reads and
become GraphQL errors with `extensions.source`.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal
from typing import TypeVar

import strawberry

from gateway import domain, inputs
from gateway.errors import WriteRefused
from gateway.writes import Writes
from resolvers.types import Customer, Info, Invoice, Payment

T = TypeVar("T")
P = TypeVar("P")


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
    description: str
    quantity: Decimal
    unit_price: Decimal = strawberry.field(description="Price of one unit, in major units.")
    tax_rate: Decimal | None = strawberry.field(default=None, description="Percent, e.g. 20.")
    sku: str | None = None

    def draft(self) -> inputs.LineDraft:
        return inputs.LineDraft(self.description, self.quantity, self.unit_price,
                                self.tax_rate, self.sku)


def _lines(lines: list[LineItemInput] | None) -> tuple[inputs.LineDraft, ...] | None:
    return None if lines is None else tuple(line.draft() for line in lines)


@strawberry.input(description="A new invoice in one source.")
class CreateInvoiceInput:
    source: str = strawberry.field(description="The configured source to create it in.")
    line_items: list[LineItemInput]
    type: domain.InvoiceType | None = None
    number: str | None = None
    customer_id: strawberry.ID | None = None
    vendor_id: strawberry.ID | None = None
    issue_date: date | None = None
    due_date: date | None = None
    currency: str | None = strawberry.field(default=None, description="ISO 4217 code.")
    status: domain.InvoiceStatus | None = strawberry.field(
        default=None, description="DRAFT or OPEN, where the source can create it so; "
        "default: the upstream's own."
    )
    purchase_order_number: str | None = None
    terms: str | None = None
    idempotency_key: str | None = strawberry.field(
        default=None, description="A retry with the same key within 24 hours returns the "
        "first result and creates nothing more."
    )

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
    id: strawberry.ID
    version: str | None = strawberry.field(
        default=None, description="`Invoice.version` as last read: a stale one is CONFLICT."
    )
    number: str | None = None
    issue_date: date | None = None
    due_date: date | None = None
    purchase_order_number: str | None = None
    terms: str | None = None
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
    id: strawberry.ID
    status: domain.InvoiceStatus
    version: str | None = None


@strawberry.input(description="An invoice to delete.")
class DeleteInvoiceInput:
    id: strawberry.ID


@strawberry.input(description="A payment received against an invoice.")
class RecordPaymentInput:
    invoice_id: strawberry.ID
    amount: Decimal = strawberry.field(description="In the invoice's currency, major units.")
    date: date
    method: str | None = None
    number: str | None = None
    idempotency_key: str | None = None

    def draft(self) -> inputs.PaymentDraft:
        return inputs.PaymentDraft(self.invoice_id, self.amount, self.date, self.method,
                                   self.number)


@strawberry.input(description="A postal address.")
class AddressInput:
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = strawberry.field(default=None, description="ISO 3166 alpha-2.")


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
    source: str
    name: str
    email: str | None = None
    phone: str | None = None
    address: AddressInput | None = None
    idempotency_key: str | None = None


@strawberry.input(description="Changes to a customer; fields left out stay as they are.")
class UpdateCustomerInput:
    id: strawberry.ID
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    address: AddressInput | None = None


@strawberry.input(description="A scanned bill for the source to read (MakersHub OCR).")
class SubmitInvoiceDocumentInput:
    source: str
    filename: str
    content_base64: str = strawberry.field(description="The file, base64-encoded.")
    content_type: str | None = strawberry.field(default=None,
                                                description="Default application/pdf.")
    idempotency_key: str | None = None


# --- payloads -------------------------------------------------------------------------
@strawberry.type
class CreateInvoicePayload:
    invoice: Invoice | None
    user_errors: list[UserError]


@strawberry.type
class UpdateInvoicePayload:
    invoice: Invoice | None
    user_errors: list[UserError]


@strawberry.type
class SetInvoiceStatusPayload:
    invoice: Invoice | None
    user_errors: list[UserError]


@strawberry.type
class DeleteInvoicePayload:
    deleted_id: strawberry.ID | None
    user_errors: list[UserError]


@strawberry.type
class RecordPaymentPayload:
    payment: Payment | None = strawberry.field(description="With its `invoice`.")
    user_errors: list[UserError]


@strawberry.type
class CreateCustomerPayload:
    customer: Customer | None
    user_errors: list[UserError]


@strawberry.type
class UpdateCustomerPayload:
    customer: Customer | None
    user_errors: list[UserError]


@strawberry.type
class SubmitInvoiceDocumentPayload:
    invoice: Invoice | None = strawberry.field(
        description="Fields stay empty until the upstream has read the document."
    )
    user_errors: list[UserError]


def _writes(info: Info) -> Writes:
    writes = info.context.writes
    if writes is None:  # pragma: no cover - the app always provides it
        raise RuntimeError("this context has no write side")
    return writes


async def _answer(
    work: Awaitable[T], done: Callable[[T], P], refused: Callable[[list[UserError]], P]
) -> P:
    try:
        return done(await work)
    except WriteRefused as exc:
        return refused([
            UserError(field=list(p.field) if p.field else None, message=p.message,
                      code=UserErrorCode(p.code))
            for p in exc.problems
        ])


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Create an invoice in one source.")
    async def create_invoice(
        self, info: Info, input: CreateInvoiceInput
    ) -> CreateInvoicePayload | None:
        work = _writes(info).create_invoice(
            info.context.caller, input.source, input.draft(), input.idempotency_key
        )
        return await _answer(
            work, lambda made: CreateInvoicePayload(invoice=Invoice.of(made), user_errors=[]),
            lambda errors: CreateInvoicePayload(invoice=None, user_errors=errors),
        )

    @strawberry.mutation(description="Change an invoice's fields or replace its lines.")
    async def update_invoice(
        self, info: Info, input: UpdateInvoiceInput
    ) -> UpdateInvoicePayload | None:
        work = _writes(info).update_invoice(
            info.context.caller, input.id, input.changes(), input.version
        )
        return await _answer(
            work, lambda made: UpdateInvoicePayload(invoice=Invoice.of(made), user_errors=[]),
            lambda errors: UpdateInvoicePayload(invoice=None, user_errors=errors),
        )

    @strawberry.mutation(description="Move an invoice to another status (issue it, pay it).")
    async def set_invoice_status(
        self, info: Info, input: SetInvoiceStatusInput
    ) -> SetInvoiceStatusPayload | None:
        work = _writes(info).set_invoice_status(
            info.context.caller, input.id, input.status, input.version
        )
        return await _answer(
            work,
            lambda made: SetInvoiceStatusPayload(invoice=Invoice.of(made), user_errors=[]),
            lambda errors: SetInvoiceStatusPayload(invoice=None, user_errors=errors),
        )

    @strawberry.mutation(description="Delete an invoice, where the source allows it.")
    async def delete_invoice(
        self, info: Info, input: DeleteInvoiceInput
    ) -> DeleteInvoicePayload | None:
        work = _writes(info).delete_invoice(info.context.caller, input.id)
        return await _answer(
            work,
            lambda gone: DeleteInvoicePayload(deleted_id=strawberry.ID(gone), user_errors=[]),
            lambda errors: DeleteInvoicePayload(deleted_id=None, user_errors=errors),
        )

    @strawberry.mutation(description="Record a payment against an invoice.")
    async def record_payment(
        self, info: Info, input: RecordPaymentInput
    ) -> RecordPaymentPayload | None:
        work = _writes(info).record_payment(
            info.context.caller, input.draft(), input.idempotency_key
        )
        return await _answer(
            work, lambda made: RecordPaymentPayload(payment=Payment.of(made), user_errors=[]),
            lambda errors: RecordPaymentPayload(payment=None, user_errors=errors),
        )

    @strawberry.mutation(description="Create a customer in one source.")
    async def create_customer(
        self, info: Info, input: CreateCustomerInput
    ) -> CreateCustomerPayload | None:
        draft = _customer(input.name, input.email, input.phone, input.address)
        work = _writes(info).create_customer(
            info.context.caller, input.source, draft, input.idempotency_key
        )
        return await _answer(
            work,
            lambda made: CreateCustomerPayload(customer=Customer.of(made), user_errors=[]),
            lambda errors: CreateCustomerPayload(customer=None, user_errors=errors),
        )

    @strawberry.mutation(description="Change a customer's details.")
    async def update_customer(
        self, info: Info, input: UpdateCustomerInput
    ) -> UpdateCustomerPayload | None:
        draft = _customer(input.name, input.email, input.phone, input.address)
        work = _writes(info).update_customer(info.context.caller, input.id, draft)
        return await _answer(
            work,
            lambda made: UpdateCustomerPayload(customer=Customer.of(made), user_errors=[]),
            lambda errors: UpdateCustomerPayload(customer=None, user_errors=errors),
        )

    @strawberry.mutation(description="Hand a scanned bill to the source to read (OCR).")
    async def submit_invoice_document(
        self, info: Info, input: SubmitInvoiceDocumentInput
    ) -> SubmitInvoiceDocumentPayload | None:
        draft = inputs.DocumentDraft(input.filename, input.content_base64, input.content_type)
        work = _writes(info).submit_document(
            info.context.caller, input.source, draft, input.idempotency_key
        )
        return await _answer(
            work,
            lambda made: SubmitInvoiceDocumentPayload(invoice=Invoice.of(made), user_errors=[]),
            lambda errors: SubmitInvoiceDocumentPayload(invoice=None, user_errors=errors),
        )
