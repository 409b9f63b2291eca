"""Parse and validate each distinct GraphQL document once per process, not once per request.

Clients (dashboards, BI tools, apps) send the same few documents over and over; profiling
the 50-invoice query showed a quarter of the gateway's CPU re-validating the same text.
strawberry's `ParserCache`/`ValidationCache` do not help here as they stand: the validation
cache is keyed by the rule classes, and `QueryDepthLimiter`/`MaxAliasesLimiter` make a new
rule class per request. So the rules are made once, with the schema (`fixed_rules`), and
this cache keys a validated document by its text and those rules.

Only documents that validate cleanly are kept (an invalid one is re-checked each time and
answered with fresh errors), in a bounded LRU so that unique texts cannot grow memory.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from cachetools import LRUCache
from graphql import DocumentNode, GraphQLError, parse
from graphql.validation import ASTValidationRule
from strawberry.extensions import AddValidationRules, SchemaExtension
from strawberry.extensions.max_aliases import create_validator as alias_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule
from strawberry.schema.schema import validate_document

Rules = tuple[type[ASTValidationRule], ...]


def fixed_rules(max_depth: int, max_aliases: int) -> Callable[[], AddValidationRules]:
    """The depth and alias limits as rule classes made once (see the module doc), and a
    factory of the per-request extension that adds them."""
    rules: list[type[ASTValidationRule]] = [depth_rule(max_depth, None, None),
                                            alias_rule(max_aliases)]
    return lambda: AddValidationRules(rules)


class Documents:
    """The process-wide store: parsed documents by text, valid ones by (text, rules)."""

    def __init__(self, maxsize: int = 256) -> None:
        self.parsed: LRUCache[str, DocumentNode] = LRUCache(maxsize)
        self.valid: LRUCache[tuple[str, Rules], bool] = LRUCache(maxsize)

    def parse(self, text: str, options: dict[str, Any]) -> DocumentNode:
        if options:  # unusual parse options: not worth a cache key of their own
            return parse(text, **options)
        document = self.parsed.get(text)
        if document is None:
            document = self.parsed[text] = parse(text)
        return document

    def validate(self, schema: Any, text: str, document: DocumentNode,
                 rules: Rules) -> list[GraphQLError]:
        if (text, rules) in self.valid:
            return []
        errors = validate_document(schema, document, rules)
        if not errors:
            self.valid[(text, rules)] = True
        return errors


class DocumentCache(SchemaExtension):
    """The strawberry extension over a `Documents` store shared by every request."""

    def __init__(self, documents: Documents) -> None:
        super().__init__()
        self.documents = documents

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query is not None and context.graphql_document is None:
            # A syntax error is left to strawberry's own parse step, which reports it.
            with contextlib.suppress(GraphQLError):
                context.graphql_document = self.documents.parse(
                    context.query, dict(context.parse_options or {}))
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.query is not None and context.graphql_document is not None:
            context.pre_execution_errors = self.documents.validate(
                context.schema._schema, context.query, context.graphql_document,
                tuple(context.validation_rules),
            )
        yield
