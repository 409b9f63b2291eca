"""The strawberry schema of the unified API."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from resolvers.errors import ErrorTranslation
from resolvers.queries import Query
from resolvers.scalars import SCALAR_MAP
from resolvers.subscriptions import Subscription
from resolvers.types import Customer, Invoice, Payment, Vendor


class GatewaySchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Errors are translated (and unexpected ones logged with their trace) by
        # ErrorTranslation; strawberry's default would log every upstream 404 as a trace.
        return None


def build_schema() -> strawberry.Schema:
    return GatewaySchema(
        query=Query,
        subscription=Subscription,
        types=[Invoice, Customer, Vendor, Payment],
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
        extensions=[
            lambda: QueryDepthLimiter(max_depth=12),
            lambda: MaxAliasesLimiter(max_alias_count=50),
            ErrorTranslation,
        ],
    )


schema = build_schema()


def export_sdl() -> str:
    """The schema in SDL, as `schema.graphql` holds it."""
    return schema.as_str() + "\n"


__all__ = ["build_schema", "export_sdl", "schema"]
