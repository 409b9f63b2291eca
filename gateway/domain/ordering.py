"""The order of an ordered invoice list, as comparable keys (gateway-contract.md, "Ordering,
finding and incremental sync (v3)").

An invoice's key under some orders is a tuple with one part per order: `(0, value)` for a
value, `(1,)` for none, so a null sorts last in either direction. Values are made so that
plain tuple comparison gives the order asked for: dates and times as integers (days,
microseconds since the epoch: instants), a number's text by Unicode code point; a
descending order negates them. Keys hold only ints, strs and tuples, so a cursor can carry
one as JSON and compare it again on the next page.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from gateway.domain.records import Invoice, InvoiceOrder, OrderField

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

Value = int | str | tuple[int, ...]
Part = tuple[int] | tuple[int, Value]
OrderKey = tuple[Part, ...]
NULL: Part = (1,)


def raw_value(invoice: Invoice, field: OrderField) -> date | datetime | str | None:
    """The invoice's value for `field`, as the domain holds it."""
    if field is OrderField.ISSUE_DATE:
        return invoice.issue_date
    if field is OrderField.DUE_DATE:
        return invoice.due_date
    if field is OrderField.CREATED_AT:
        return invoice.created_at
    if field is OrderField.UPDATED_AT:
        return invoice.updated_at
    return invoice.number


def part(value: date | datetime | str | None, descending: bool) -> Part:
    """One order's part of a key (see the module's docstring)."""
    if value is None:
        return NULL
    if isinstance(value, str):
        if not descending:
            return (0, value)
        # Negated code points, then a 1 that is above every negated one: a longer text
        # with the same beginning comes first, as it does in reverse code-point order.
        return (0, (*(-ord(char) for char in value), 1))
    number = (
        (value - _EPOCH) // _MICROSECOND if isinstance(value, datetime) else value.toordinal()
    )
    return (0, -number if descending else number)


def order_key(invoice: Invoice, orders: Sequence[InvoiceOrder]) -> OrderKey:
    return tuple(part(raw_value(invoice, o.field), o.descending) for o in orders)
