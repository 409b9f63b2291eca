"""An OpenAPI 3.0 description of the Invoicematic API, as the simulator serves it.

Only the read side the peer benchmark uses (invoices, one customer), with the fields of
`docs/upstreams/invoicematic.md`. Hive Gateway's OpenAPI source (@omnigraph/openapi)
turns it into a GraphQL schema; fields left out here are simply absent from that schema.
"""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]


def _object(properties: JSON, required: tuple[str, ...] = ()) -> JSON:
    schema: JSON = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


INTEGER: JSON = {"type": "integer"}
STRING: JSON = {"type": "string"}
NULLABLE_STRING: JSON = {"type": "string", "nullable": True}

LINE_ITEM = _object(
    {
        "id": INTEGER,
        "name": STRING,
        "description": NULLABLE_STRING,
        "quantity": {"type": "number"},
        "price": INTEGER,
        "total": INTEGER,
    },
    ("id", "name", "quantity", "price", "total"),
)
CUSTOMER = _object(
    {"id": INTEGER, "name": STRING, "email": NULLABLE_STRING, "phone": NULLABLE_STRING},
    ("id", "name"),
)
INVOICE = _object(
    {
        "id": INTEGER,
        "invoice_number": STRING,
        "invoice_date": STRING,
        "due_date": NULLABLE_STRING,
        "status": STRING,
        "paid_status": STRING,
        "sub_total": INTEGER,
        "tax": INTEGER,
        "total": INTEGER,
        "due_amount": INTEGER,
        "currency_id": INTEGER,
        "customer_id": INTEGER,
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/LineItem"}},
    },
    ("id", "invoice_number", "invoice_date", "status", "paid_status", "total",
     "due_amount", "currency_id", "customer_id"),
)
META = _object(
    {name: INTEGER for name in ("current_page", "from", "last_page", "per_page", "to", "total")}
)


def _query(name: str, schema: JSON, description: str) -> JSON:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


def _reply(schema: JSON) -> JSON:
    return {"200": {"description": "OK", "content": {"application/json": {"schema": schema}}}}


def openapi(server_url: str) -> JSON:
    """The description, with `server_url` (the source's `base_url`) as its only server."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "Invoicematic", "version": "1.0.0"},
        "servers": [{"url": server_url}],
        "components": {
            "schemas": {"Invoice": INVOICE, "Customer": CUSTOMER, "LineItem": LINE_ITEM},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/invoices": {
                "get": {
                    "operationId": "listInvoices",
                    "parameters": [
                        _query("limit", STRING, "page size, or 'all'"),
                        _query("page", INTEGER, "1-based page"),
                        _query("orderByField", STRING, "sort field"),
                        _query("orderBy", {"type": "string", "enum": ["asc", "desc"]},
                               "sort direction"),
                    ],
                    "responses": _reply(_object({
                        "data": {"type": "array",
                                 "items": {"$ref": "#/components/schemas/Invoice"}},
                        "meta": META,
                    })),
                }
            },
            "/api/customers/{id}": {
                "get": {
                    "operationId": "getCustomer",
                    "parameters": [{"name": "id", "in": "path", "required": True,
                                    "schema": INTEGER}],
                    "responses": _reply(_object(
                        {"data": {"$ref": "#/components/schemas/Customer"}}
                    )),
                }
            },
        },
    }
