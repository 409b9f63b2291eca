"""Money from minor units: exact, with the currency's digits, never through a float."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.domain.records import Money


@pytest.mark.parametrize("minor", [0, 5, -5, 1234, 100000, -120, 10**15])
@pytest.mark.parametrize("currency", ["usd", "EUR", "JPY", "KWD"])
def test_from_minor_matches_the_quantized_amount(minor: int, currency: str) -> None:
    money = Money.from_minor(minor, currency)
    expected = Money.of(Decimal(minor).scaleb(-Money.of(0, currency).amount.as_tuple()
                                               .exponent * -1), currency)
    assert money == expected
    assert str(money.amount) == str(expected.amount)
    assert money.currency == currency.upper()


def test_cents_render_with_two_digits() -> None:
    assert str(Money.from_minor(0, "EUR").amount) == "0.00"
    assert str(Money.from_minor(123456, "USD").amount) == "1234.56"
    assert str(Money.from_minor(500, "JPY").amount) == "500"
