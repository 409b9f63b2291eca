"""schema.graphql is always the exported schema, and the contract's names are in it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from graphql import build_schema

from resolvers.schema import export_sdl

ROOT = Path(__file__).resolve().parent.parent


def test_schema_file_equals_export():
    committed = (ROOT / "schema.graphql").read_text(encoding="utf-8")
    assert committed == export_sdl(), (
        "schema.graphql is stale: run `invoice-gateway export-schema > schema.graphql`"
    )


def test_cli_export_schema_prints_the_same():
    out = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "export-schema"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout
    assert out == export_sdl()


def _signature(field) -> str:
    args = ", ".join(f"{name}: {arg.type}" for name, arg in field.args.items())
    return f"({args}): {field.type}" if args else f": {field.type}"


def test_contract_names_present():
    built = build_schema(export_sdl(), assume_valid_sdl=True)  # @link / @key undeclared
    query = built.query_type.fields
    expected = {
        "invoices": "(filter: InvoiceFilter, orderBy: [InvoiceOrder!], first: Int, after: String): "
                    "InvoiceConnection!",
        "invoice": "(id: ID, source: String, remoteId: String): Invoice",
        "node": "(id: ID!): Node",
        "nodes": "(ids: [ID!]!): [Node]!",
        "sources": ": [Source!]!",
        "customer": "(id: ID!): Customer",
        "vendor": "(id: ID!): Vendor",
        "payment": "(id: ID!): Payment",
    }
    for name, signature in expected.items():
        assert _signature(query[name]) == signature, name
    for name in ["customers", "vendors", "payments"]:
        assert {"first", "after"} <= set(query[name].args)
    invoice_filter = built.type_map["InvoiceFilter"].fields
    assert set(invoice_filter) == {
        "sources", "status", "type", "issuedFrom", "issuedTo", "customerId", "vendorId",
        "dueFrom", "dueTo", "updatedSince", "number", "search", "overdue", "currency",
    }
    order = built.type_map["InvoiceOrder"].fields
    assert str(order["field"].type) == "InvoiceOrderField!"
    assert str(order["direction"].type) == "OrderDirection"
    assert set(built.type_map["InvoiceOrderField"].values) == {
        "ISSUE_DATE", "DUE_DATE", "CREATED_AT", "UPDATED_AT", "NUMBER"}
    invoice = built.type_map["Invoice"].fields
    for field in ["id", "source", "remoteId", "type", "number", "status", "statusRaw",
                  "approvalStatus", "isOverdue", "issueDate", "dueDate", "currency", "subtotal",
                  "taxTotal", "total", "amountDue", "customer", "vendor", "lineItems", "payments",
                  "groupedInvoices", "purchaseOrderNumber", "terms", "tags", "version",
                  "createdAt", "updatedAt", "remoteData"]:
        assert field in invoice, field
    assert set(built.type_map["InvoiceStatus"].values) == {
        "DRAFT", "SUBMITTED", "OPEN", "PARTIALLY_PAID", "PAID", "VOID", "UNKNOWN"
    }
    assert str(built.type_map["Money"].fields["amount"].type) == "Decimal!"
    for type_name in ["Invoice", "Customer", "Vendor", "Payment"]:
        assert built.type_map["Node"] in built.type_map[type_name].interfaces
    connection = built.type_map["InvoiceConnection"].fields
    assert set(connection) >= {"edges", "nodes", "pageInfo", "totalCount"}
    assert str(connection["totalCount"].type) == "Int"


def test_every_type_and_field_is_described():
    built = build_schema(export_sdl(), assume_valid_sdl=True)
    for name, graphql_type in built.type_map.items():
        # `_Service`, `_Any`, `_Entity`, `_service`, `_entities`: Apollo Federation's own
        if name.startswith("_") or name in {"String", "Int", "Boolean", "ID", "Float"}:
            continue
        assert graphql_type.description, name
        for field_name, field in getattr(graphql_type, "fields", {}).items():
            if not field_name.startswith("_"):
                assert field.description, f"{name}.{field_name}"
