"""Domain records (`gateway.domain.records`): frozen, slotted dataclasses, and the GraphQL
objects over them read every plain field as one of their attributes."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from graphql import GraphQLObjectType
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

from gateway.domain import records as domain
from gateway.domain.records import Customer, Invoice, InvoiceStatus, InvoiceType, Money
from resolvers.schema import schema
from resolvers.types import view


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


def test_records_have_no_instance_dict() -> None:
    # Slotted: a page's thousands of records carry no per-instance dict.
    assert not hasattr(invoice(), "__dict__")
    assert not hasattr(Money.from_minor(1, "EUR"), "__dict__")


# Each GraphQL object type whose values are domain records (Money, Address, LineItem) or
# views over them (`resolvers.types.view`, which adds `id`), with that record class.
OVER_RECORDS: dict[str, tuple[type, frozenset[str]]] = {
    "Invoice": (domain.Invoice, frozenset({"id"})),
    "Customer": (domain.Customer, frozenset({"id"})),
    "Vendor": (domain.Vendor, frozenset({"id"})),
    "Payment": (domain.Payment, frozenset({"id"})),
    "Money": (domain.Money, frozenset()),
    "Address": (domain.Address, frozenset()),
    "LineItem": (domain.LineItem, frozenset()),
}


def plain_fields(type_name: str) -> dict[str, str]:
    """GraphQL name -> Python attribute of the type's plain fields: no resolver of their own,
    no arguments, answered by reading the attribute (as resolvers/executor.py reads it)."""
    graphql_type = schema._schema.get_type(type_name)
    assert isinstance(graphql_type, GraphQLObjectType)
    found = {}
    for name, field in graphql_type.fields.items():
        definition = field.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
        if (isinstance(definition, StrawberryField) and definition.base_resolver is None
                and not field.args):
            found[name] = definition.python_name
    return found


@pytest.mark.parametrize("type_name", sorted(OVER_RECORDS))
def test_every_plain_field_is_an_attribute_of_its_record(type_name: str) -> None:
    record_type, added = OVER_RECORDS[type_name]
    attributes = {item.name for item in dataclasses.fields(record_type)} | added
    plain = plain_fields(type_name)
    assert plain, f"{type_name} has no plain field: is it still a view over its record?"
    missing = sorted(f"{name} ({python})" for name, python in plain.items()
                     if python not in attributes)
    assert missing == [], f"{type_name}: plain fields its record lacks"


def test_a_view_holds_every_field_of_its_record() -> None:
    from resolvers.types import Invoice as InvoiceView

    record = invoice(total=Money.of("10.50", "EUR"), tags=("a",))
    seen = view(InvoiceView, "Invoice", record)
    for item in dataclasses.fields(record):
        assert getattr(seen, item.name) is getattr(record, item.name)
    assert seen.record is record and seen.id
