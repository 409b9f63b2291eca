"""Scalars with the contract's wire forms: Decimal strings, YYYY-MM-DD dates, UTC times."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

import strawberry
from strawberry.types.scalar import ScalarDefinition


def _parse_decimal(value: object) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal number") from None


def _serialize_datetime(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_datetime(value: object) -> datetime:
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _parse_date(value: object) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{value!r} is not a date of the form YYYY-MM-DD") from None


DecimalScalar = strawberry.scalar(
    name="Decimal",
    description='An exact decimal number as a string, e.g. "1500.00" (money carries its '
    "currency's minor digits).",
    serialize=str, parse_value=_parse_decimal,
)
DateScalar = strawberry.scalar(
    name="Date", description="A calendar date, YYYY-MM-DD.",
    serialize=date.isoformat, parse_value=_parse_date,
)
DateTimeScalar = strawberry.scalar(
    name="DateTime", description="An instant in ISO 8601, in UTC (suffix Z).",
    serialize=_serialize_datetime, parse_value=_parse_datetime,
)

SCALAR_MAP: dict[object, ScalarDefinition] = {
    Decimal: DecimalScalar, date: DateScalar, datetime: DateTimeScalar,
}
