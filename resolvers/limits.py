"""Operation limits (contract "Operation limits (v2)"): refuse a costly document before it
is validated or executed, so it never causes an upstream request.

Depth, aliases, estimated cost and `first` are measured on the parsed document with
fragments expanded; tokens are capped by the parser itself (`max_tokens`); introspection
can be switched off. A breach answers one error with `extensions.code: OPERATION_LIMIT`
and `extensions.limit` naming the configuration key that was exceeded. The limits come
from the request context (they are per app; the schema is shared).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionNode,
    VariableNode,
    get_named_type,
)
from graphql.type.definition import GraphQLInterfaceType
from strawberry.extensions import SchemaExtension

from gateway.config import LimitsConfig
from gateway.paging import DEFAULT_FIRST

INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})


class LimitExceeded(Exception):
    def __init__(self, limit: str, message: str) -> None:
        super().__init__(message)
        self.limit = limit

    def graphql_error(self) -> GraphQLError:
        return GraphQLError(str(self), extensions={"code": "OPERATION_LIMIT", "limit": self.limit})


@dataclass
class _Tally:
    depth: int = 0
    aliases: int = 0
    cost: int = 0
    fields: int = 0


class _Measure:
    """One walk over the operations of a document, fragments expanded, stopping at the first
    limit passed (so a fragment bomb costs at most `max_cost` visited fields)."""

    def __init__(self, document: DocumentNode, schema: GraphQLSchema,
                 variables: Mapping[str, Any], limits: LimitsConfig) -> None:
        self.schema = schema
        self.variables = variables
        self.limits = limits
        self.fragments = {
            node.name.value: node for node in document.definitions
            if isinstance(node, FragmentDefinitionNode)
        }
        self.tally = _Tally()

    def operation(self, operation: OperationDefinitionNode) -> None:
        defaults = {
            definition.variable.name.value: definition.default_value
            for definition in operation.variable_definitions or ()
            if definition.default_value is not None
        }
        self.defaults = defaults
        root = self.schema.get_root_type(operation.operation)
        self.walk(operation.selection_set.selections, root, 1, 1, frozenset())

    def walk(self, selections: Sequence[SelectionNode], parent: GraphQLNamedType | None,
             depth: int, multiplier: int, fragments: frozenset[str]) -> None:
        limits, tally = self.limits, self.tally
        for selection in selections:
            if isinstance(selection, FieldNode):
                self.field(selection, parent, depth, multiplier, fragments)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                self.walk(selection.selection_set.selections, inner, depth, multiplier, fragments)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in fragments:
                    continue  # unknown or cyclic: validation reports it
                inner = self.schema.get_type(fragment.type_condition.name.value)
                self.walk(fragment.selection_set.selections, inner, depth, multiplier,
                          fragments | {name})
            tally.fields += 1
            if tally.fields > limits.max_cost:
                raise LimitExceeded("max_cost", f"operation selects more than max_cost "
                                    f"({limits.max_cost}) fields once fragments are expanded")

    def field(self, node: FieldNode, parent: GraphQLNamedType | None, depth: int,
              multiplier: int, fragments: frozenset[str]) -> None:
        limits, tally = self.limits, self.tally
        name = node.name.value
        if node.alias is not None:
            tally.aliases += 1
            if tally.aliases > limits.max_aliases:
                raise LimitExceeded("max_aliases", f"operation uses more than max_aliases "
                                    f"({limits.max_aliases}) aliases")
        if name.startswith("__"):
            if name in INTROSPECTION_FIELDS and not limits.introspection:
                raise LimitExceeded("introspection", "introspection is disabled on this gateway")
            return  # introspection's own nesting (ofType chains) is not the caller's cost
        if depth > tally.depth:
            tally.depth = depth
            if depth > limits.max_depth:
                raise LimitExceeded("max_depth", f"operation is deeper than max_depth "
                                    f"({limits.max_depth})")
        definition = None
        if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            definition = parent.fields.get(name)
        if definition is not None and "first" in definition.args:
            first = self.int_argument(node, "first")
            first = DEFAULT_FIRST if first is None else first
            if first > limits.max_first:
                raise LimitExceeded("max_first", f"'first' of {name} is {first}, more than "
                                    f"max_first ({limits.max_first})")
            multiplier *= max(first, 0)
            tally.cost += multiplier
        elif definition is not None and "ids" in definition.args:
            multiplier *= self.list_length(node, "ids")
            tally.cost += multiplier
        if tally.cost > limits.max_cost:
            raise LimitExceeded("max_cost", f"operation may return about {tally.cost} objects "
                                f"(the product of 'first' along nested lists), more than "
                                f"max_cost ({limits.max_cost})")
        if node.selection_set is not None:
            inner = get_named_type(definition.type) if definition is not None else None
            self.walk(node.selection_set.selections, inner, depth + 1, multiplier, fragments)

    def _argument(self, node: FieldNode, name: str) -> Any:
        for argument in node.arguments or ():
            if argument.name.value == name:
                value = argument.value
                if isinstance(value, VariableNode):
                    variable = value.name.value
                    if variable in self.variables:
                        return self.variables[variable]
                    return self.defaults.get(variable)
                return value
        return None

    def int_argument(self, node: FieldNode, name: str) -> int | None:
        value = self._argument(node, name)
        if isinstance(value, IntValueNode):
            return int(value.value)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def list_length(self, node: FieldNode, name: str) -> int:
        value = self._argument(node, name)
        if isinstance(value, ListValueNode):
            return len(value.values)
        return len(value) if isinstance(value, list) else 1


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
                context.pre_execution_errors = [exc.graphql_error()]
        yield
