"""The strawberry schema of the unified API."""

from __future__ import annotations

import functools
from typing import Any, Final

import strawberry
from graphql import GraphQLError
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import ExecutionContext

from gateway.errors import BadInput
from resolvers import queries
from resolvers.bi import BIQuery
from resolvers.changes import ChangesQuery
from resolvers.document_cache import DocumentCache, Documents
from resolvers.errors import ErrorTranslation
from resolvers.executor import PlainFieldExecutor
from resolvers.federation import FederationQuery, subgraph_sdl
from resolvers.limits import OperationLimits
from resolvers.mutations import Mutation
from resolvers.scalars import SCALAR_MAP
from resolvers.subscriptions import Subscription
from resolvers.types import Customer, Invoice, Payment, Vendor

# The Apollo Federation version the subgraph declares (its @link): the lowest that has what
# the schema uses (@key), so that older routers and gateways can compose it too.
FEDERATION_VERSION: Final = "2.3"
ENTITY_TYPES: Final = frozenset({"Invoice", "Customer", "Vendor", "Payment"})


class GatewaySchema(strawberry.federation.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Errors are translated (and unexpected ones logged with their trace) by
        # ErrorTranslation; strawberry's default would log every upstream 404 as a trace.
        return None

    def entities_resolver(self, info: Any, representations: list[Any]) -> list[Any]:
        # strawberry indexes its type map with any `__typename` and passes every other key
        # to `resolve_reference`: an unknown type or key would surface as an internal error
        # (found by the fuzz run), so references are checked first.
        for index, representation in enumerate(representations):
            if (
                not isinstance(representation, dict)
                or set(representation) != {"__typename", "id"}
                or representation["__typename"] not in ENTITY_TYPES
                or not isinstance(representation["id"], str)
            ):
                raise BadInput(
                    f"representations[{index}]: expected {{__typename, id}} with __typename "
                    f"one of {', '.join(sorted(ENTITY_TYPES))}"
                )
        result: list[Any] = super().entities_resolver(info, representations)
        return result


# strawberry builds the `_entities` field from this method's annotations: keep the base's
# (this module's postponed annotations would name types strawberry cannot resolve).
GatewaySchema.entities_resolver.__annotations__ = dict(
    strawberry.federation.Schema.entities_resolver.__annotations__
)


@strawberry.type(name="Query", description="Read the unified invoice data of every configured "
                 "source.")
class Query(queries.Query, BIQuery, ChangesQuery, FederationQuery):
    """The root query: the reads of `resolvers.queries`, the BI queries, the change feed,
    `_service`."""


# The top-level `executor` setting: the execution context class strawberry hands to
# graphql-core. `plain-fields` completes plain fields in place (resolvers/executor.py);
# `graphql-core` is strawberry's own, the plain path kept beside it.
EXECUTORS: Final[dict[str, type[StrawberryGraphQLCoreExecutionContext]]] = {
    "plain-fields": PlainFieldExecutor,
    "graphql-core": StrawberryGraphQLCoreExecutionContext,
}


def build_schema(executor: str = "plain-fields") -> strawberry.Schema:
    # Made once per schema: the store of parsed and validated documents shared by every
    # request. Depth and aliases are limited by OperationLimits (configurable per app).
    documents = Documents()
    return GatewaySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Invoice, Customer, Vendor, Payment],
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
        federation_version=FEDERATION_VERSION,
        execution_context_class=EXECUTORS[executor],
        extensions=[
            # Limits first: a refused document is neither validated nor cached.
            OperationLimits,
            lambda: DocumentCache(documents),
            ErrorTranslation,
        ],
    )


schema = build_schema()


@functools.cache
def schema_for(executor: str) -> strawberry.Schema:
    """The schema executing with `executor` (a key of `EXECUTORS`): the module's `schema`
    for the default, else one built once (a schema is immutable once built)."""
    return schema if executor == "plain-fields" else build_schema(executor)


def export_sdl() -> str:
    """The schema in SDL, as `schema.graphql` holds it (with `_service` and `_entities`)."""
    return schema.as_str() + "\n"


def export_subgraph_sdl() -> str:
    """The Federation v2 subgraph SDL, as `_service { sdl }` answers it."""
    return subgraph_sdl(schema.as_str())


__all__ = ["build_schema", "export_sdl", "export_subgraph_sdl", "schema"]
