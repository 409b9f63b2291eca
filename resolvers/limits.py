"""Operation limits (contract "Operation limits (v2)"): refuse a costly document before it
is validated or executed, so it never causes an upstream request.

Depth, aliases, estimated cost and `first` are measured on the whole parsed document with
fragments expanded, introspection included; tokens are capped by the parser itself
(`max_tokens`). A breach answers one error with `extensions.code: OPERATION_LIMIT` and
`extensions.limit` naming the configuration key that was exceeded. The limits come from
the request context (they are per app; the schema is shared).

Cost is the estimated number of objects: the product of list sizes along nested lists.
A list's size is its coerced `first` (graphql-core's own coercion of the literal or
variable, so `500.0` counts as 500), its declared default page size where `first` is not
given, the length of its id list (`nodes(ids)`, `_entities(representations)`, also held
to `max_first`), or its declared typical size (`LIST_SIZES`) for lists without paging.
Inside `__schema` and `__type` the same walk runs against a separate, generous budget
(`introspection_max_depth`, `introspection_max_cost`), with each introspection list as
long as the largest of its kind in the schema, so GraphiQL's introspection query passes
while an aliased introspection bomb does not.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    OperationDefinitionNode,
    SchemaMetaFieldDef,
    SelectionNode,
    TypeMetaFieldDef,
    get_named_type,
    get_nullable_type,
    is_list_type,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from strawberry.extensions import SchemaExtension

from gateway.config import LimitsConfig
from gateway.errors import LimitExceeded
from gateway.lists.paging import DEFAULT_FIRST

INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})

# Lists without `first`: how many items one of them holds, as typically seen (the cost
# estimate, not a cap). Keys are `Type.field`, or a field name for every type. A list
# field of the schema not named here counts as a default page (`DEFAULT_FIRST`);
# tests/security/test_cost.py checks that every one of them is named.
LIST_SIZES: Mapping[str, int] = {
    "Invoice.lineItems": 10,
    "Invoice.payments": 5,
    "Invoice.groupedInvoices": 5,
    "Query.sources": 10,
    "Query.invoiceSummary": 50,
    "Query.aging": 10,
    "userErrors": 10,
}
# Lists as long as a list argument: one item (and one upstream read) per id given.
SIZED_BY_ARGUMENT: Mapping[str, str] = {
    "Query.nodes": "ids",
    "Query._entities": "representations",
}
# A connection's `nodes` and `edges` hold the page its field's `first` already counted.
CONNECTION_LISTS = frozenset({"nodes", "edges"})


def limit_error(exc: LimitExceeded) -> GraphQLError:
    return GraphQLError(str(exc), extensions={"code": "OPERATION_LIMIT", "limit": exc.limit})


@dataclass(frozen=True, slots=True)
class _Budget:
    """The depth and cost limits one part of a document is held to, and their keys."""

    depth_key: str
    max_depth: int
    cost_key: str
    max_cost: int


@dataclass
class _Tally:
    depth: int = 0
    aliases: int = 0
    fields: int = 0
    cost: int = 0
    introspection_cost: int = 0


@cache
def introspection_sizes(schema: GraphQLSchema) -> Mapping[str, int]:
    """Each introspection list as long as the largest of its kind in `schema`."""
    types = list(schema.type_map.values())
    composite = [t for t in types if isinstance(t, GraphQLObjectType | GraphQLInterfaceType)]
    fields = [field for t in composite for field in t.fields.values()]
    directives = schema.directives

    def largest(sizes: Sequence[int]) -> int:
        return max(sizes, default=0)

    return {
        "__Schema.types": len(types),
        "__Schema.directives": len(directives),
        "__Type.fields": largest([len(t.fields) for t in composite]),
        "__Type.interfaces": largest([len(t.interfaces) for t in composite]),
        "__Type.possibleTypes": largest(
            [len(schema.get_possible_types(t)) for t in types
             if isinstance(t, GraphQLInterfaceType | GraphQLUnionType)]
        ),
        "__Type.enumValues": largest(
            [len(t.values) for t in types if isinstance(t, GraphQLEnumType)]),
        "__Type.inputFields": largest(
            [len(t.fields) for t in types if isinstance(t, GraphQLInputObjectType)]),
        "__Field.args": largest([len(field.args) for field in fields]),
        "__Directive.args": largest([len(directive.args) for directive in directives]),
    }


class _Measure:
    """One walk over the operations of a document, fragments expanded, stopping at the first
    limit passed (so a fragment bomb costs at most `max_cost` visited fields)."""

    def __init__(self, document: DocumentNode, schema: GraphQLSchema,
                 variables: Mapping[str, Any], limits: LimitsConfig) -> None:
        self.schema = schema
        self.raw_variables = dict(variables)
        self.limits = limits
        self.fragments = {
            node.name.value: node for node in document.definitions
            if isinstance(node, FragmentDefinitionNode)
        }
        self.tally = _Tally()
        self.variables: VariableValues | None = None
        self.ordinary = _Budget("max_depth", limits.max_depth, "max_cost", limits.max_cost)
        self.introspection = _Budget(
            "introspection_max_depth", limits.introspection_max_depth,
            "introspection_max_cost", limits.introspection_max_cost,
        )

    def operation(self, operation: OperationDefinitionNode) -> None:
        coerced = get_variable_values(
            self.schema, operation.variable_definitions or (), self.raw_variables, max_errors=1
        )
        # Variables that do not coerce fail the request before execution; until then the
        # arguments that use them count with their declared defaults.
        self.variables = coerced if isinstance(coerced, VariableValues) else None
        root = self.schema.get_root_type(operation.operation)
        self.walk(operation.selection_set.selections, root, 1, 1, frozenset(), self.ordinary)

    def walk(self, selections: Sequence[SelectionNode], parent: GraphQLNamedType | None,
             depth: int, multiplier: int, fragments: frozenset[str], budget: _Budget) -> None:
        limits, tally = self.limits, self.tally
        for selection in selections:
            if isinstance(selection, FieldNode):
                self.field(selection, parent, depth, multiplier, fragments, budget)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                self.walk(selection.selection_set.selections, inner, depth, multiplier,
                          fragments, budget)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in fragments:
                    continue  # unknown or cyclic: validation reports it
                inner = self.schema.get_type(fragment.type_condition.name.value)
                self.walk(fragment.selection_set.selections, inner, depth, multiplier,
                          fragments | {name}, budget)
            tally.fields += 1
            if tally.fields > limits.max_cost:
                raise LimitExceeded("max_cost", f"operation selects more than max_cost "
                                    f"({limits.max_cost}) fields once fragments are expanded")

    def field(self, node: FieldNode, parent: GraphQLNamedType | None, depth: int,
              multiplier: int, fragments: frozenset[str], budget: _Budget) -> None:
        limits, tally = self.limits, self.tally
        name = node.name.value
        if node.alias is not None:
            tally.aliases += 1
            if tally.aliases > limits.max_aliases:
                raise LimitExceeded("max_aliases", f"operation uses more than max_aliases "
                                    f"({limits.max_aliases}) aliases")
        if name == "__typename":
            return
        if name in INTROSPECTION_FIELDS:
            if not limits.introspection:
                raise LimitExceeded("introspection", "introspection is disabled on this gateway")
            budget, multiplier = self.introspection, 1
        if depth > budget.max_depth:
            raise LimitExceeded(budget.depth_key, f"operation is deeper than "
                                f"{budget.depth_key} ({budget.max_depth})")
        tally.depth = max(tally.depth, depth)
        definition = self._definition(parent, name)
        if definition is None:
            inner = None  # unknown: validation reports it; its selections still count
        else:
            inner = get_named_type(definition.type)
            size = self.size(node, parent, name, definition, budget)
            if size is not None:
                multiplier *= size
                self.spend(multiplier, budget)
        if node.selection_set is not None:
            self.walk(node.selection_set.selections, inner, depth + 1, multiplier, fragments,
                      budget)

    def _definition(self, parent: GraphQLNamedType | None, name: str) -> GraphQLField | None:
        if name in INTROSPECTION_FIELDS:
            return SchemaMetaFieldDef if name == "__schema" else TypeMetaFieldDef
        if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            field: GraphQLField | None = parent.fields.get(name)
            return field
        return None

    def size(self, node: FieldNode, parent: GraphQLNamedType | None, name: str,
             definition: GraphQLField, budget: _Budget) -> int | None:
        """How many objects this field yields per parent object, or None for one (a
        field that is not a list, or a list of scalars, which adds no objects)."""
        owner = parent.name if parent is not None else ""
        key = f"{owner}.{name}"
        if "first" in definition.args:
            first = self.arguments(definition, node).get("first")
            first = DEFAULT_FIRST if not isinstance(first, int) else first
            if first > self.limits.max_first:
                raise LimitExceeded("max_first", f"'first' of {name} is {first}, more than "
                                    f"max_first ({self.limits.max_first})")
            return max(first, 0)
        argument = SIZED_BY_ARGUMENT.get(key)
        if argument is not None:
            items = self.arguments(definition, node).get(argument)
            length = len(items) if isinstance(items, list) else 1
            if length > self.limits.max_first:
                raise LimitExceeded("max_first", f"'{argument}' of {name} has {length} items, "
                                    f"more than max_first ({self.limits.max_first})")
            return length
        nullable = get_nullable_type(definition.type)
        if not is_list_type(nullable) or node.selection_set is None:
            return None
        if budget is self.introspection:
            return introspection_sizes(self.schema).get(key, 1)
        if name in CONNECTION_LISTS and owner.endswith("Connection"):
            return None
        return LIST_SIZES.get(key, LIST_SIZES.get(name, DEFAULT_FIRST))

    def arguments(self, definition: GraphQLField, node: FieldNode) -> dict[str, Any]:
        """The field's arguments as graphql-core coerces them for execution."""
        try:
            return get_argument_values(definition, node, self.variables)
        except GraphQLError:  # a value that does not coerce: validation refuses it
            return {}

    def spend(self, objects: int, budget: _Budget) -> None:
        tally = self.tally
        if budget is self.introspection:
            tally.introspection_cost += objects
            spent = tally.introspection_cost
            what = "introspection may return about"
        else:
            tally.cost += objects
            spent = tally.cost
            what = "operation may return about"
        if spent > budget.max_cost:
            raise LimitExceeded(budget.cost_key, f"{what} {spent} objects (the product of "
                                f"list sizes along nested lists), more than {budget.cost_key} "
                                f"({budget.max_cost})")


def check_limits(document: DocumentNode, schema: GraphQLSchema,
                 variables: Mapping[str, Any] | None, limits: LimitsConfig) -> None:
    """Raise `LimitExceeded` for the first limit the document's operations pass."""
    measure = _Measure(document, schema, variables or {}, limits)
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            measure.operation(definition)


class OperationLimits(SchemaExtension):
    """Applies the request context's `limits` before validation and execution."""

    def _limits(self) -> LimitsConfig:
        limits = getattr(self.execution_context.context, "limits", None)
        return limits if isinstance(limits, LimitsConfig) else LimitsConfig()

    def on_operation(self) -> Iterator[None]:
        self.execution_context.parse_options["max_tokens"] = self._limits().max_tokens
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is not None and context.pre_execution_errors is None:
            try:
                check_limits(context.graphql_document, context.schema._schema,
                             context.variables, self._limits())
            except LimitExceeded as exc:
                # Validation is skipped when errors are already set: the refused document
                # is neither validated (which is itself costly for a bomb) nor executed.
                context.pre_execution_errors = [limit_error(exc)]
        yield
