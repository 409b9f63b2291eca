"""Which invoices a filter selects (`gateway.lists.selection`): the sources, the narrowing
by customer or vendor, the errors naming an unknown or forbidden source, and the export's
query parameters. `invoices`, `invoiceSummary`, `aging` and the export all select here.

Elsewhere: the same refusals as GraphQL errors (tests/test_gateway_lists.py,
test_bad_input_gets_a_clear_error), as export 400s (tests/test_bi_export.py,
test_bad_export_parameters_are_named), and per client (tests/test_access.py).
"""

from __future__ import annotations

from datetime import date

import pytest

from gateway.adapters import Adapter
from gateway.domain.ids import encode_id
from gateway.domain.records import InvoiceStatus, InvoiceType
from gateway.errors import BadSelection, InvalidGlobalId, SourceForbidden
from gateway.lists.selection import (
    InvoiceSelection,
    invoice_request,
    parse_selection,
)
from gateway.registry import KINDS

# A source per kind, named as in the demo, in configuration order.
EVERY = tuple(KINDS.demo_names().values())


@pytest.fixture
def adapters(make_adapter) -> dict[str, Adapter]:
    made = [make_adapter(kind) for kind in KINDS]
    return {adapter.name: adapter for adapter in made}  # ap, erp, billing, cloud


def without(adapters: dict[str, Adapter], *names: str) -> dict[str, Adapter]:
    """What a client that may not read `names` is given."""
    return {name: adapter for name, adapter in adapters.items() if name not in names}


def test_no_sources_selects_every_listing_source_in_configuration_order(adapters):
    request = invoice_request(adapters, InvoiceSelection())
    assert request.resource == "invoices"
    assert request.sources == EVERY


def test_named_sources_keep_configuration_order(adapters):
    request = invoice_request(adapters, InvoiceSelection(sources=["cloud", "erp"]))
    assert request.sources == ("erp", "cloud")


def test_an_unknown_source_is_bad_input_naming_it_and_the_configured_ones(adapters):
    with pytest.raises(BadSelection) as refused:
        invoice_request(adapters, InvoiceSelection(sources=["erp", "nope"]))
    assert str(refused.value) == f"unknown source 'nope'; configured: {', '.join(EVERY)}"


def test_a_configured_source_the_client_may_not_read_is_forbidden(adapters):
    allowed = without(adapters, "cloud")
    with pytest.raises(SourceForbidden, match="may not read source 'cloud'"):
        invoice_request(allowed, InvoiceSelection(sources=["cloud"]), configured=adapters)
    # Without naming it, the client simply does not see it.
    assert invoice_request(allowed, InvoiceSelection(), configured=adapters).sources == tuple(
        name for name in EVERY if name != "cloud")
    # Not configured at all: unknown, whoever asks.
    with pytest.raises(BadSelection, match="unknown source 'nope'"):
        invoice_request(allowed, InvoiceSelection(sources=["nope"]), configured=adapters)


def test_a_customer_or_vendor_narrows_the_list_to_its_source(adapters):
    customer = encode_id("Customer", "billing", "42")
    request = invoice_request(adapters, InvoiceSelection(customer_id=customer))
    assert request.sources == ("billing",)
    assert request.query is not None and request.query.customer_id == "42"
    vendor = encode_id("Vendor", "ap", "7")
    request = invoice_request(adapters, InvoiceSelection(vendor_id=vendor))
    assert request.sources == ("ap",) and request.query is not None
    assert request.query.vendor_id == "7"
    # A customer of a source outside the named ones: nothing to list (not an error).
    request = invoice_request(adapters, InvoiceSelection(sources=["erp"], customer_id=customer))
    assert request.sources == ()


def test_a_customer_of_a_forbidden_source_is_forbidden(adapters):
    customer = encode_id("Customer", "cloud", "1")
    with pytest.raises(SourceForbidden, match="may not read source 'cloud'"):
        invoice_request(without(adapters, "cloud"), InvoiceSelection(customer_id=customer),
                        configured=adapters)


def test_ids_of_the_wrong_type_are_refused(adapters):
    invoice = encode_id("Invoice", "billing", "42")
    with pytest.raises(InvalidGlobalId, match="is the id of a Invoice, not of a Customer"):
        invoice_request(adapters, InvoiceSelection(customer_id=invoice))
    with pytest.raises(InvalidGlobalId, match="is not a valid id"):
        invoice_request(adapters, InvoiceSelection(vendor_id="garbage"))


def test_the_filter_becomes_the_query(adapters):
    where = InvoiceSelection(statuses=[InvoiceStatus.OPEN, InvoiceStatus.PAID],
                             type=InvoiceType.RECEIVABLE, issued_from=date(2026, 1, 1),
                             issued_to=date(2026, 1, 31))
    query = invoice_request(adapters, where).query
    assert query is not None
    assert query.statuses == {InvoiceStatus.OPEN, InvoiceStatus.PAID}
    assert query.type is InvoiceType.RECEIVABLE
    assert (query.issued_from, query.issued_to) == (date(2026, 1, 1), date(2026, 1, 31))
    same_day = InvoiceSelection(issued_from=date(2026, 1, 1), issued_to=date(2026, 1, 1))
    assert invoice_request(adapters, same_day).query is not None
    backwards = InvoiceSelection(issued_from=date(2026, 2, 1), issued_to=date(2026, 1, 1))
    with pytest.raises(BadSelection, match=r"filter\.issuedFrom is after filter\.issuedTo"):
        invoice_request(adapters, backwards)


def test_the_same_filter_from_graphql_or_the_export_is_the_same_list(adapters):
    from_export = parse_selection({"sources": ["cloud,billing"], "status": ["paid", "OPEN"]})
    from_graphql = InvoiceSelection(sources=["billing", "cloud"],
                                    statuses=[InvoiceStatus.OPEN, InvoiceStatus.PAID])
    assert (invoice_request(adapters, from_export).fingerprint
            == invoice_request(adapters, from_graphql).fingerprint)


def test_export_parameters_lists_comma_separated_or_repeated():
    selection = parse_selection({
        "sources": ["erp, billing", "cloud"], "status": ["open", "PAID,VOID"],
        "type": ["payable"], "issuedFrom": ["2026-01-01"], "issuedTo": ["2026-03-31"],
        "customerId": ["Q3VzdG9tZXI6ZXJwOjE"],
    })
    assert selection.sources == ["erp", "billing", "cloud"]
    assert selection.statuses == [InvoiceStatus.OPEN, InvoiceStatus.PAID, InvoiceStatus.VOID]
    assert selection.type is InvoiceType.PAYABLE
    assert (selection.issued_from, selection.issued_to) == (date(2026, 1, 1), date(2026, 3, 31))
    assert selection.customer_id == "Q3VzdG9tZXI6ZXJwOjE" and selection.vendor_id is None
    assert parse_selection({}) == InvoiceSelection()


def test_a_blank_export_parameter_is_no_filter():
    # `?sources=&status=` (a form's empty fields) selected no source at all: an empty export.
    assert parse_selection({"sources": [""], "status": [" , "], "type": [""]}) == (
        InvoiceSelection())


@pytest.mark.parametrize(("params", "message"), [
    ({"type": ["payable", "receivable"]}, "type: give one value, got 2"),
    ({"issuedTo": ["2026-01-01,2026-02-01"]}, "issuedTo: give one value, got 2"),
    ({"issuedFrom": ["1 May"]}, "issuedFrom: '1 May' is not a date of the form YYYY-MM-DD"),
    ({"status": ["open", "late"]},
     "status: 'late' is not one of DRAFT, SUBMITTED, OPEN, PARTIALLY_PAID, PAID, VOID, UNKNOWN"),
    ({"type": ["both"]}, "type: 'both' is not one of RECEIVABLE, PAYABLE"),
])
def test_bad_export_parameters_are_named(params, message):
    with pytest.raises(BadSelection) as refused:
        parse_selection(params)
    assert str(refused.value) == message
