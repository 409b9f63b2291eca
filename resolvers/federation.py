"""Apollo Federation v2: the subgraph SDL a router reads from `_service { sdl }`.

Entities (`@key(fields: "id")` on Invoice, Customer, Vendor and Payment) resolve through
`resolve_reference` in `resolvers.types`, on the same by-id path and loaders as `node`;
strawberry's federation schema adds `_entities` for them.
"""

from __future__ import annotations

import strawberry
from graphql import DocumentNode, ObjectTypeDefinitionNode, parse, print_ast

from resolvers.context import Info

# Federation's plumbing, which a subgraph's SDL leaves out (as Apollo's printSubgraphSchema
# does): the router adds it to every subgraph itself.
PLUMBING_TYPES = frozenset({"_Any", "_Entity", "_Service"})
PLUMBING_FIELDS = frozenset({"_service", "_entities"})


def subgraph_sdl(full_sdl: str) -> str:
    """The subgraph SDL of a federation schema's full SDL: without `_service`, `_entities`
    and their types; everything else (the @link, every @key, descriptions) kept."""
    document = parse(full_sdl)
    definitions = []
    for definition in document.definitions:
        name = getattr(getattr(definition, "name", None), "value", None)
        if name in PLUMBING_TYPES:
            continue
        if isinstance(definition, ObjectTypeDefinitionNode) and definition.fields:
            fields = tuple(f for f in definition.fields if f.name.value not in PLUMBING_FIELDS)
            definition = ObjectTypeDefinitionNode(
                name=definition.name, description=definition.description,
                interfaces=definition.interfaces, directives=definition.directives,
                fields=fields,
            )
        definitions.append(definition)
    return print_ast(DocumentNode(definitions=tuple(definitions))) + "\n"


@strawberry.type(name="_Service", description="Apollo Federation: this subgraph.")
class Service:
    sdl: str = strawberry.field(description="The subgraph SDL (`export-schema --federation`).")


@strawberry.type(description="Apollo Federation's fields on the root query.")
class FederationQuery:
    @strawberry.field(name="_service", description="Apollo Federation: this subgraph's SDL.")
    def service(self, info: Info) -> Service:
        return Service(sdl=subgraph_sdl(info.schema.as_str()))
