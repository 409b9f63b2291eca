"""A leaner execution path for plain fields (issue 9: big pages and cold-query latency).

Profiles of a page of 500 invoices with line items (some 16,000 field executions) showed
graphql-core's executor to be most of the gateway's CPU: for every field a `Path`, the
field definition looked up, strawberry's 15-field info object built, the argument check,
the resolver called through strawberry's two wrappers, two awaitable checks and
`complete_value`'s type dispatch. Most of those fields are *plain*: strawberry's default
resolver with no arguments, no extensions and no middleware, whose value is an attribute
of the parent object.

`PlainFieldExecutor` keeps graphql-core's execution and changes only how such fields run.
Per selection (parent type and grouped field set) it plans once which fields are plain
and of which shape (leaf, object, list of leaves or of objects), then reads their values
with `getattr` and completes them directly. Every other field, and every plain field
whose value is anything unusual (None where non-null, an exception, an awaitable, a
coercion failure), goes through the inherited `execute_field`, so its error is exactly
graphql-core's: message, path, locations and null propagation. The decision to fall back
is always taken before any sub-field has run, so nothing is executed twice.

**Behind a switch.** The top-level setting `executor` picks it: `plain-fields` (the
default) or `graphql-core`, strawberry's own `StrawberryGraphQLCoreExecutionContext`, the
plain path beside it (`resolvers.schema.EXECUTORS`). Both must give the same JSON answers;
tests/test_executor.py compares them document by document, and
`GATEWAY_TEST_EXECUTOR=graphql-core` runs any gateway test under the plain path.

**What it does differently**, for a plain field (no resolver of its own, no arguments, no
field extensions, no middleware in the schema):

- no `GraphQLResolveInfo` and no strawberry `Info` are built, and strawberry's resolver
  wrappers are not called: the value is `getattr(parent, python_name)`;
- no `Path` is made for a leaf (only for an object or a list, whose items may fail);
- the awaitable check is skipped for values of classes that can never be awaitable
  (`never_awaitable`, judged once per class);
- leaves are coerced with `coerce_output_value` directly, not through `complete_value`'s
  type dispatch;
- a resolver marked `in_place` is answered by its synchronous stand-in where the stand-in
  can answer; the resolver itself then does not run (a stand-in must have no effects).

**What it skips**, handing the field to graphql-core's own `execute_field`: fields with
arguments or with a resolver, `@stream`, anything below a `@defer` (and incremental
delivery as a whole), a middleware (the whole operation then takes the normal path), an
object type whose `is_type_of` needs an info object, and every unusual value (an exception,
an awaitable, a null where non-null, a failed coercion, a list that is not a list or tuple).

**What it relies on**: graphql-core's `ExecutionContext` internals (`execute_fields`,
`execute_field`, `collect_subfields` and its `_relevant_sub_fields` memo,
`handle_field_error`, `settle_in_background`, `is_awaitable`, `build_per_event_executor`,
`graphql.execution.collect_fields`) and strawberry's field definitions
(`DEFINITION_BACKREF`, `_is_default`, `is_basic_field`, `default_resolver`,
`base_resolver.wrapped_func`). None of those is public API: pyproject.toml pins both
libraries to the minor versions in `TESTED_WITH` (a test holds the two together); moving
either means running tests/test_executor.py and raising the pins.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import CoroutineType, FunctionType, GeneratorType
from typing import Any, TypeVar

from graphql import (
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    is_leaf_type,
    is_object_type,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.pyutils import Path, Undefined, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

# The minor versions this executor was tested with (pyproject.toml pins the same).
TESTED_WITH = {"graphql-core": "3.3", "strawberry-graphql": "0.341"}


@dataclass(slots=True)
class PlannedField:
    """One response key of a selection, as planned for its parent type.

    `complete` is the `PlainFieldExecutor` method that executes it: `leaf` (a scalar or
    enum), `object` (an object type without `is_type_of`), `leaf_list` or `object_list`
    (lists of those) for plain fields, `fallback` (graphql-core's own `execute_field`)
    for every other field, None for `__typename`.
    """

    complete: Complete | None
    details: FieldDetailsList
    attribute: str = ""  # the Python attribute a plain field reads
    return_type: Any = None  # the field's GraphQLOutputType, as declared
    nullable: bool = True
    named_type: Any = None  # the leaf or object type (of the items, for lists)
    item_type: Any = None  # for lists: the item type, as declared
    item_nullable: bool = True
    # The object's own grouped field set, collected on first use (graphql-core memoizes
    # `collect_subfields` the same way, per executor).
    subfields: GroupedFieldSet | None = None
    # For `in_place` fields: the resolver's synchronous stand-in (see `in_place`).
    resolve: Callable[[Any, Any], Any] | None = None


Plan = list[tuple[str, PlannedField]]
Complete = Callable[
    ["PlainFieldExecutor", PlannedField, GraphQLObjectType, Any, "Path | None", str], Any
]


class PlainFieldExecutor(StrawberryGraphQLCoreExecutionContext):
    """strawberry's executor with a fast path for plain fields (see the module docstring).

    Passed to the schema as `execution_context_class`; strawberry hands it to graphql-core
    as its `executor_class`, one instance per operation.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A middleware (a SchemaExtension with `resolve`) must see every field: then the
        # whole operation takes the normal path.
        manager = self.middleware_manager
        self.fast = not (manager is not None and manager.middlewares)
        # Plans per (parent type, grouped field set), keeping the field set alive so that
        # its id is not reused while this operation runs (as `collect_subfields` does).
        self.plans: dict[tuple[GraphQLObjectType, int], tuple[GroupedFieldSet, Plan]] = {}
        # Classes whose instances are never awaitable (see `never_awaitable`): their values
        # skip the general awaitable check, which is much of the cost of a plain field.
        self.never_awaitable: set[type] = {str, int, float, bool, list, tuple, dict}

    def build_per_event_executor(self, payload: Any) -> PlainFieldExecutor:
        """A subscription event's executor: its own plans and its own memo of collected
        subfields, as each event collects its fields anew. graphql-core's copy shares the
        subscription's memo, keyed by each event's new field lists: shared, it would keep
        every event's selection alive for as long as the subscription is open."""
        executor = super().build_per_event_executor(payload)
        assert isinstance(executor, PlainFieldExecutor)
        executor.plans = {}
        executor._relevant_sub_fields = {}
        return executor

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> Any:
        """graphql-core's `execute_fields`, with plain fields completed in place."""
        if not self.fast or position_context is not None:  # incremental delivery
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        never_awaitable = self.never_awaitable
        awaitable_fields: list[str] = []
        try:
            for response_name, field in self.plan(parent_type, grouped_field_set):
                complete = field.complete
                if complete is None:
                    results[response_name] = parent_type.name  # __typename
                    continue
                result = complete(self, field, parent_type, source_value, path, response_name)
                if result is Undefined:  # graphql-core's answer for an unknown field
                    continue
                results[response_name] = result
                if type(result) not in never_awaitable and is_awaitable(result):
                    awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:
                self.settle_in_background([results[name] for name in awaitable_fields])
            raise
        if not awaitable_fields:
            return results
        return self.gather_fields(results, awaitable_fields)

    async def gather_fields(
        self, results: dict[str, Any], awaitable_fields: list[str]
    ) -> dict[str, Any]:
        """The awaited fields of one object, as graphql-core's `execute_fields` awaits them."""
        if len(awaitable_fields) == 1:
            name = awaitable_fields[0]
            results[name] = await results[name]
        else:
            awaited = await gather_with_cancel(*(results[name] for name in awaitable_fields))
            results.update(zip(awaitable_fields, awaited, strict=True))
        return results

    # Planning

    def plan(self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet) -> Plan:
        """The planned fields of a selection on `parent_type`, made once per operation."""
        key = (parent_type, id(grouped_field_set))
        cached = self.plans.get(key)
        if cached is not None:
            return cached[1]
        plan = [
            (response_name, self.plan_field(parent_type, details))
            for response_name, details in grouped_field_set.items()
        ]
        self.plans[key] = (grouped_field_set, plan)
        return plan

    def plan_field(self, parent_type: GraphQLObjectType, details: FieldDetailsList) -> PlannedField:
        node = details[0].node
        name = node.name.value
        if name == "__typename":
            return PlannedField(None, details)
        other = PlannedField(PlainFieldExecutor.fallback, details)
        field_def = self.schema.get_field(parent_type, name)
        if field_def is None or field_def.args:
            return other
        # strawberry marks its resolver for fields without one of their own; a basic field
        # also has no field extensions. Its value is `default_resolver(source, python_name)`.
        definition = field_def.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
        stand_in = in_place_of(definition)
        if stand_in is not None and not any(detail.node.arguments for detail in details):
            return_type = field_def.type
            field_type, nullable = unwrap_non_null(return_type)
            if is_object_type(field_type) and accepts_without_info(field_type):
                planned = PlannedField(
                    PlainFieldExecutor.in_place, details, "", return_type, nullable, field_type
                )
                planned.resolve = stand_in
                return planned
            return other
        if (
            not getattr(field_def.resolve, "_is_default", False)
            or not isinstance(definition, StrawberryField)
            or not definition.is_basic_field
            or definition.default_resolver is not getattr
        ):
            return other
        if any(
            detail.node.arguments
            or any(directive.name.value == "stream" for directive in detail.node.directives or ())
            for detail in details
        ):
            return other
        return_type = field_def.type
        field_type, nullable = unwrap_non_null(return_type)
        planned = PlannedField(
            PlainFieldExecutor.fallback, details, definition.python_name, return_type,
            nullable, field_type,
        )
        if is_leaf_type(field_type):
            planned.complete = PlainFieldExecutor.leaf
        elif is_plain_object(field_type):
            planned.complete = PlainFieldExecutor.object
        elif isinstance(field_type, GraphQLList):
            item_type = field_type.of_type
            named_type, item_nullable = unwrap_non_null(item_type)
            planned.item_type, planned.item_nullable = item_type, item_nullable
            planned.named_type = named_type
            if is_leaf_type(named_type):
                planned.complete = PlainFieldExecutor.leaf_list
            elif is_object_type(named_type) and accepts_without_info(named_type):
                # Items of a type with strawberry's `is_type_of` (an interface's
                # implementation, such as every `Node`) are checked before any item runs.
                planned.complete = PlainFieldExecutor.object_list
        return planned

    def subfields_of(self, field: PlannedField) -> GroupedFieldSet | None:
        """The object's grouped field set, or None where graphql-core's own path is needed:
        a `@defer` below it, or collecting failed (`execute_field` collects again and
        reports the error at the field)."""
        subfields = field.subfields
        if subfields is None:
            try:
                collected = self.collect_subfields(field.named_type, field.details)
            except Exception:
                return None
            if collected.new_defer_usages:
                return None
            field.subfields = subfields = collected.grouped_field_set
        return subfields

    # Plain fields. Each returns what `execute_field` would; anything unusual is handed to
    # `execute_field` itself before any sub-field has run.

    def fallback(
        self, field: PlannedField, parent_type: GraphQLObjectType, source: Any,
        path: Path | None, response_name: str,
    ) -> Any:
        return self.execute_field(
            parent_type, source, field.details, Path(path, response_name, parent_type.name), None
        )

    def usual(self, value: Any) -> bool:
        """Whether a non-null value can be completed here: not an error to raise, not an
        awaitable to await."""
        cls = type(value)
        if cls in self.never_awaitable:
            return True
        if isinstance(value, Exception) or self.is_awaitable(value):
            return False
        if never_awaitable(cls):
            self.never_awaitable.add(cls)
        return True

    def coerce(self, leaf_type: GraphQLLeafType, value: Any) -> Any:
        """The coerced leaf value, or Undefined where graphql-core would raise."""
        if type(value) not in self.never_awaitable and not self.usual(value):
            return Undefined
        try:
            coerced = leaf_type.coerce_output_value(value)
        except Exception:
            return Undefined
        if coerced is None or (
            type(coerced) not in self.never_awaitable and not self.usual(coerced)
        ):
            return Undefined
        return coerced

    def leaf(
        self, field: PlannedField, parent_type: GraphQLObjectType, source: Any,
        path: Path | None, response_name: str,
    ) -> Any:
        try:
            value = getattr(source, field.attribute)
        except Exception:
            return self.fallback(field, parent_type, source, path, response_name)
        if value is None or value is Undefined:
            if field.nullable:
                return None
            return self.fallback(field, parent_type, source, path, response_name)
        coerced = self.coerce(field.named_type, value)
        if coerced is Undefined:
            return self.fallback(field, parent_type, source, path, response_name)
        return coerced

    def leaf_list(
        self, field: PlannedField, parent_type: GraphQLObjectType, source: Any,
        path: Path | None, response_name: str,
    ) -> Any:
        value = self.list_value(field, source)
        if value is None:
            return None
        if value is Undefined:
            return self.fallback(field, parent_type, source, path, response_name)
        leaf_type = field.named_type
        completed: list[Any] = []
        for item in value:
            if item is None or item is Undefined:
                if not field.item_nullable:
                    return self.fallback(field, parent_type, source, path, response_name)
                completed.append(None)
                continue
            coerced = self.coerce(leaf_type, item)
            if coerced is Undefined:
                return self.fallback(field, parent_type, source, path, response_name)
            completed.append(coerced)
        return completed

    def list_value(self, field: PlannedField, source: Any) -> Any:
        """A plain list field's value: None for a null it may return, Undefined for anything
        `execute_field` must handle (a null where non-null, an error, an awaitable, an
        iterable other than a list or tuple), else the list or tuple."""
        try:
            value = getattr(source, field.attribute)
        except Exception:
            return Undefined
        if value is None or value is Undefined:
            return None if field.nullable else Undefined
        if type(value) is not list and type(value) is not tuple:
            return Undefined
        return value

    def object(
        self, field: PlannedField, parent_type: GraphQLObjectType, source: Any,
        path: Path | None, response_name: str,
    ) -> Any:
        try:
            value = getattr(source, field.attribute)
        except Exception:
            return self.fallback(field, parent_type, source, path, response_name)
        if value is None or value is Undefined:
            if field.nullable:
                return None
            return self.fallback(field, parent_type, source, path, response_name)
        subfields = self.subfields_of(field) if self.usual(value) else None
        if subfields is None:
            return self.fallback(field, parent_type, source, path, response_name)
        field_path = Path(path, response_name, parent_type.name)
        return self.complete_object(
            field.named_type, value, field_path, subfields, field.return_type, field.details
        )

    def in_place(
        self, field: PlannedField, parent_type: GraphQLObjectType, source: Any,
        path: Path | None, response_name: str,
    ) -> Any:
        """A resolver field answered by its stand-in (`in_place`) where the stand-in can
        answer now; else (it says NOT_HELD, fails, or answers anything unusual) by the
        resolver itself through `execute_field`."""
        assert field.resolve is not None
        try:
            value = field.resolve(source, self.context_value)
        except Exception:
            return self.fallback(field, parent_type, source, path, response_name)
        if value is NOT_HELD:
            return self.fallback(field, parent_type, source, path, response_name)
        if value is None:
            if field.nullable:
                return None
            return self.fallback(field, parent_type, source, path, response_name)
        object_type = field.named_type
        if not self.usual(value) or (
            object_type.is_type_of is not None and not object_type.is_type_of(value, None)
        ):
            return self.fallback(field, parent_type, source, path, response_name)
        subfields = self.subfields_of(field)
        if subfields is None:
            return self.fallback(field, parent_type, source, path, response_name)
        field_path = Path(path, response_name, parent_type.name)
        return self.complete_object(
            object_type, value, field_path, subfields, field.return_type, field.details
        )

    def complete_object(
        self, object_type: GraphQLObjectType, value: Any, path: Path,
        subfields: GroupedFieldSet, return_type: Any, details: FieldDetailsList,
    ) -> Any:
        """An object's fields, with errors handled at this position as graphql-core does
        (in `execute_field` for a field, in `complete_list_item_value` for a list item)."""
        try:
            completed = self.execute_fields(object_type, value, path, subfields, None)
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, details, path)
            return None
        if self.is_awaitable(completed):
            return self.await_completed(completed, return_type, details, path)
        return completed

    async def await_completed(
        self, completed: Awaitable[Any], return_type: Any, details: FieldDetailsList, path: Path
    ) -> Any:
        try:
            return await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, details, path)
            return None

    def object_list(
        self, field: PlannedField, parent_type: GraphQLObjectType, source: Any,
        path: Path | None, response_name: str,
    ) -> Any:
        value = self.list_value(field, source)
        if value is None:
            return None
        if value is Undefined or not self.items_usual(field, value):
            return self.fallback(field, parent_type, source, path, response_name)
        subfields = self.subfields_of(field)
        if subfields is None:
            return self.fallback(field, parent_type, source, path, response_name)
        list_path = Path(path, response_name, parent_type.name)
        object_type, item_type, details = field.named_type, field.item_type, field.details
        completed: list[Any] = []
        awaitable_indices: list[int] = []
        try:
            try:
                for index, item in enumerate(value):
                    if item is None or item is Undefined:
                        completed.append(None)
                        continue
                    result = self.complete_object(
                        object_type, item, Path(list_path, index, None), subfields,
                        item_type, details,
                    )
                    if self.is_awaitable(result):
                        awaitable_indices.append(index)
                    completed.append(result)
            except Exception:
                if awaitable_indices:
                    self.settle_in_background([completed[index] for index in awaitable_indices])
                raise
        except Exception as raw_error:
            self.handle_field_error(raw_error, field.return_type, details, list_path)
            return None
        if not awaitable_indices:
            return completed
        return self.await_completed(
            self.gather_items(completed, awaitable_indices), field.return_type, details,
            list_path,
        )

    def items_usual(self, field: PlannedField, items: Any) -> bool:
        """Whether every item can be completed here (checked before any item runs): not
        null where non-null, usual, and of the item type by its `is_type_of` (where it has
        one, graphql-core's own path raises the error for an item that is not)."""
        is_type_of = field.named_type.is_type_of
        for item in items:
            if item is None or item is Undefined:
                if not field.item_nullable:
                    return False
            elif not self.usual(item) or (
                is_type_of is not None and not is_type_of(item, None)
            ):
                return False
        return True

    async def gather_items(self, completed: list[Any], awaitable_indices: list[int]) -> list[Any]:
        """The awaited items of one list, as graphql-core's `complete_iterable_value`
        awaits them."""
        if len(awaitable_indices) == 1:
            index = awaitable_indices[0]
            completed[index] = await completed[index]
        else:
            awaited = await gather_with_cancel(*(completed[index] for index in awaitable_indices))
            for index, item in zip(awaitable_indices, awaited, strict=True):
                completed[index] = item
        return completed


def never_awaitable(cls: type) -> bool:
    """Whether graphql-core's awaitable check (a coroutine, a generator-based coroutine or
    an object with `__await__`) is false for every instance of `cls`, judged by the class:
    not a coroutine or generator class, and no `__await__`, `__getattr__` or Python-level
    `__getattribute__` in its MRO. (An instance attribute named `__await__`, which `await`
    itself ignores, is the one case the class cannot tell.)"""
    if issubclass(cls, (CoroutineType, GeneratorType)):
        return False
    for klass in cls.__mro__:
        namespace = vars(klass)
        if "__await__" in namespace or "__getattr__" in namespace or isinstance(
            namespace.get("__getattribute__"), FunctionType
        ):
            return False
    return True


def unwrap_non_null(type_: Any) -> tuple[Any, bool]:
    """The type inside a non-null wrapper and whether it may be null."""
    if isinstance(type_, GraphQLNonNull):
        return type_.of_type, False
    return type_, True


# What an `in_place` stand-in answers when it cannot answer without waiting.
NOT_HELD: Any = object()

F = TypeVar("F", bound=Callable[..., Any])


def in_place(stand_in: Callable[[Any, Any], Any]) -> Callable[[F], F]:
    """Mark a resolver (`(self, info)`, no arguments) as having a synchronous stand-in
    `stand_in(self, context)` that answers from what the request already holds, or
    `NOT_HELD`. The executor calls the stand-in without building an info object or going
    through strawberry's resolver wrappers, and the resolver itself only where the stand-in
    says NOT_HELD (or fails). The stand-in must have no effects: the resolver may run after
    it. Only for fields of an object type."""

    def mark(resolver: F) -> F:
        resolver.in_place = stand_in  # type: ignore[attr-defined]
        return resolver

    return mark


def in_place_of(definition: Any) -> Callable[[Any, Any], Any] | None:
    """The stand-in of a strawberry field's resolver (see `in_place`), where it has one and
    nothing else (field extensions, permissions) wraps the resolver."""
    if not isinstance(definition, StrawberryField) or definition.base_resolver is None:
        return None
    if definition.extensions or definition.arguments:
        return None
    stand_in: Callable[[Any, Any], Any] | None = getattr(
        definition.base_resolver.wrapped_func, "in_place", None)
    return stand_in


def accepts_without_info(type_: GraphQLObjectType) -> bool:
    """Whether an object type's `is_type_of` (if any) can be asked without an info object:
    strawberry's own never reads it."""
    check = type_.is_type_of
    return check is None or getattr(check, "__module__", "") == GraphQLCoreConverter.__module__


def is_plain_object(type_: Any) -> bool:
    """An object type whose values need no `is_type_of` check (strawberry sets one on
    types that implement an interface, such as `Node`)."""
    return is_object_type(type_) and type_.is_type_of is None


__all__ = ["NOT_HELD", "TESTED_WITH", "PlainFieldExecutor", "in_place"]
