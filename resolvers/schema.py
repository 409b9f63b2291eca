"""The strawberry schema of the unified API."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from resolvers.document_cache import DocumentCache, Documents, fixed_rules
from resolvers.errors import ErrorTranslation
from resolvers.queries import Query
from resolvers.scalars import SCALAR_MAP
from resolvers.types import Customer, Invoice, Payment, Vendor


class GatewaySchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Errors are translated (and unexpected ones logged with their trace) by
        # ErrorTranslation; strawberry's default would log every upstream 404 as a trace.
        return None


def build_schema() -> strawberry.Schema:
    # Made once per schema: the rule classes (so validated documents can be cached by
    # them) and the store of parsed and validated documents shared by every request.
    limits = fixed_rules(max_depth=12, max_aliases=50)
    documents = Documents()
    return GatewaySchema(
        query=Query,
        types=[Invoice, Customer, Vendor, Payment],
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
        extensions=[
            limits,
            lambda: DocumentCache(documents),
            ErrorTranslation,
        ],
    )


schema = build_schema()


def export_sdl() -> str:
    """The schema in SDL, as `schema.graphql` holds it."""
    return schema.as_str() + "\n"


__all__ = ["build_schema", "export_sdl", "schema"]
