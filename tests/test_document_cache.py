"""Parsed and validated documents are cached per process without weakening validation."""

from __future__ import annotations

from graphql import specified_rules

from resolvers.document_cache import Documents
from resolvers.schema import build_schema

DEEP = "{" + " invoices { nodes { customer {" * 5 + " name" + " } } }" * 5 + " }"  # depth 16


async def test_depth_limit_holds_on_every_repeat() -> None:
    schema = build_schema()
    for _ in range(3):
        result = await schema.execute(DEEP)
        assert result.errors and "exceeds maximum operation depth" in result.errors[0].message


async def test_alias_limit_holds_and_an_allowed_document_is_served_again() -> None:
    schema = build_schema()
    too_many = "{ " + " ".join(f"a{i}: __typename" for i in range(51)) + " }"
    allowed = "{ " + " ".join(f"a{i}: __typename" for i in range(50)) + " }"
    for _ in range(2):
        result = await schema.execute(too_many)
        assert result.errors and "aliases" in result.errors[0].message
        result = await schema.execute(allowed)
        assert result.errors is None and result.data == {f"a{i}": "Query" for i in range(50)}


async def test_syntax_and_validation_errors_are_reported_each_time() -> None:
    schema = build_schema()
    for _ in range(2):
        result = await schema.execute("{ invoices { ")
        assert result.errors and "Syntax Error" in result.errors[0].message
        result = await schema.execute("{ noSuchField }")
        assert result.errors and "noSuchField" in result.errors[0].message


def test_store_parses_once_and_keeps_only_valid_documents() -> None:
    schema = build_schema()._schema
    rules = tuple(specified_rules)
    documents = Documents(maxsize=2)
    first = documents.parse("{ __typename }", {})
    assert documents.parse("{ __typename }", {}) is first
    assert documents.validate(schema, "{ __typename }", first, rules) == []
    bad = documents.parse("{ nope }", {})
    assert documents.validate(schema, "{ nope }", bad, rules)
    assert list(documents.valid) == [("{ __typename }", rules)]
    for text in ("{ a: __typename }", "{ b: __typename }", "{ c: __typename }"):
        documents.parse(text, {})
    assert len(documents.parsed) == 2  # bounded
