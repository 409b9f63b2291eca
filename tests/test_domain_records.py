"""Domain records (`gateway.domain.records.record`): frozen dataclasses built in one step behave as
the dataclasses they are."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from gateway.domain.records import Customer, Invoice, InvoiceStatus, InvoiceType, Money


def invoice(**changes: object) -> Invoice:
    values: dict[str, object] = {
        "source": "billing", "remote_id": "7", "type": InvoiceType.RECEIVABLE,
        "number": "INV-7", "status": InvoiceStatus.OPEN, "status_raw": "SENT",
        "currency": "EUR",
    }
    return Invoice(**(values | changes))  # type: ignore[arg-type]


def test_defaults_and_factories_are_the_dataclass_ones() -> None:
    one, two = invoice(), invoice()
    assert one.total is None and one.line_items == () and one.is_overdue is False
    assert one.remote_data == {} and one.remote_data is not two.remote_data
    assert one == two and hash(one) == hash(two)
    assert invoice(remote_data={"a": 1}) == one  # remote_data takes no part in equality


def test_records_stay_frozen_and_replaceable() -> None:
    one = invoice(total=Money.of("10.50", "EUR"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        one.number = "changed"  # type: ignore[misc]
    changed = dataclasses.replace(one, number="INV-8")
    assert changed.number == "INV-8" and changed.total == one.total and one.number == "INV-7"
    assert [f.name for f in dataclasses.fields(changed)][:3] == ["source", "remote_id", "type"]
    assert "INV-8" in repr(changed)


def test_wrong_arguments_are_refused_as_by_the_dataclass() -> None:
    with pytest.raises(TypeError):
        Customer(source="billing", remote_id="1")  # type: ignore[call-arg]  # no name
    with pytest.raises(TypeError):
        Customer(source="billing", remote_id="1", name="x", nickname="y")  # type: ignore[call-arg]
    assert Customer("billing", "1", "x") == Customer(source="billing", remote_id="1", name="x")


def test_money_from_minor_is_the_money_of_its_amount() -> None:
    money = Money.from_minor(123456, "usd")
    assert money == Money(Decimal("1234.56"), "USD") and hash(money) == hash(Money.of(
        Decimal("1234.56"), "USD"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        money.amount = Decimal(0)  # type: ignore[misc]
