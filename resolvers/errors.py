"""Translating errors into GraphQL errors, once, for the whole response.

Resolvers raise domain exceptions; this extension turns them into GraphQL errors with
`extensions`: upstream failures carry `code`, `source` and `status` (the contract), bad input
carries `code: BAD_USER_INPUT`, and anything unexpected is masked ("Internal error") so
that no stack trace or internal detail reaches a client. It also adds the partial errors
that resolvers collected in the context (a source that failed inside a list), puts the
stale-data warnings of the request into `extensions.warnings`, and reports the operation's
name, outcome and error codes to the request scope (for metrics and the request log).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from gateway.errors import (
    BadInput,
    CursorExpired,
    SourceForbidden,
    SubscriberOverflow,
    UpstreamError,
    WriteOutcomeUnknown,
)
from gateway.upstream.scope import current_scope

logger = logging.getLogger("invoice_gateway.errors")
# graphql-core's parser aborts with this once a document passes `max_tokens`.
TOKEN_LIMIT_MESSAGE = "tokens. Parsing aborted"


def upstream_extensions(exc: UpstreamError) -> dict[str, Any]:
    extensions: dict[str, Any] = {"code": exc.code, "source": exc.source}
    if exc.status is not None:
        extensions["status"] = exc.status
    if exc.field_errors:
        extensions["fields"] = exc.field_errors
    if exc.retry_after is not None:
        extensions["retryAfter"] = exc.retry_after
    if isinstance(exc, WriteOutcomeUnknown):
        extensions["idempotencyKey"] = exc.idempotency_key
        if exc.cause is not None:
            extensions["cause"] = exc.cause
    return extensions


def partial_error(
    exc: UpstreamError | SourceForbidden | BadInput, path: list[str | int]
) -> GraphQLError:
    """A GraphQL error for one part's failure inside a field that still has data (a source
    that failed, or one id of `nodes` that is not an id)."""
    known = _known(exc)
    assert known is not None
    message, extensions = known
    return GraphQLError(message, path=path, extensions=extensions)


def translate(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    known = _known(original)
    if known is not None:
        message, extensions = known
        return _copy(error, message, extensions)
    # Without a path the error is the document's or the variables' (a scalar literal that
    # does not parse carries the scalar's ValueError): the client's to fix, never internal.
    if original is None or isinstance(original, GraphQLError) or error.path is None:
        if error.extensions and "code" in error.extensions:
            return error
        if TOKEN_LIMIT_MESSAGE in error.message:
            return _copy(error, error.message.removeprefix("Syntax Error: "),
                         {"code": "OPERATION_LIMIT", "limit": "max_tokens"})
        code = "GRAPHQL_PARSE_FAILED" if "Syntax Error" in error.message else (
            "GRAPHQL_VALIDATION_FAILED"
        )
        return _copy(error, error.message, {**(error.extensions or {}), "code": code})
    scope = current_scope()
    if scope is None:
        logger.error("unexpected error at %s", error.path, exc_info=original)
    else:  # the traceback goes on the request's JSON log line, as one field
        scope.tracebacks.append("".join(traceback.format_exception(original)))
        logger.error("unexpected error at %s: %s (request %s)", error.path,
                     type(original).__name__, scope.request_id)
    return _copy(error, "Internal error; it has been logged.", {"code": "INTERNAL_SERVER_ERROR"})


def _known(original: BaseException | None) -> tuple[str, dict[str, Any]] | None:
    """The message and extensions of the gateway's own exceptions, wherever they surface
    (a subscription's refusal arrives without a path, yet is still the gateway's word)."""
    if isinstance(original, UpstreamError):
        return str(original), upstream_extensions(original)
    if isinstance(original, SourceForbidden):
        return str(original), {"code": "FORBIDDEN"}
    if isinstance(original, CursorExpired):
        return str(original), {"code": CursorExpired.code}
    if isinstance(original, BadInput):  # a bad id, cursor, `first`, filter or source name
        return str(original), {"code": "BAD_USER_INPUT"}
    if isinstance(original, SubscriberOverflow):
        return str(original), {"code": "SUBSCRIBER_OVERFLOW"}
    return None


def _copy(error: GraphQLError, message: str, extensions: dict[str, Any]) -> GraphQLError:
    return GraphQLError(
        message, nodes=error.nodes, source=error.source, positions=error.positions,
        path=error.path, extensions=extensions,
    )


class ErrorTranslation(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None:
            return
        context = self.execution_context.context
        partial: list[GraphQLError] = list(getattr(context, "partial_errors", ()))
        errors = [translate(error) for error in (result.errors or [])] + partial
        result.errors = errors or None
        scope = current_scope()
        if scope is not None:
            scope.operation = self.execution_context.operation_name
            scope.error_codes.update(
                str((error.extensions or {}).get("code")) for error in errors
            )
            limited = any((e.extensions or {}).get("code") == "OPERATION_LIMIT" for e in errors)
            scope.outcome = (
                "limited" if limited else "ok" if not errors
                else "partial" if result.data else "error"
            )

    def get_results(self) -> dict[str, Any]:
        scope = current_scope()
        warnings = scope.warnings() if scope is not None else []
        return {"warnings": warnings} if warnings else {}

    def on_stream_result(self, result: Any) -> Iterator[None]:
        # Subscriptions send one result per event, each before `on_operation` ends. A
        # document that did not parse has no operation type: `on_operation` translates it.
        try:
            subscription = self.execution_context.operation_type is OperationType.SUBSCRIPTION
        except RuntimeError:
            subscription = False
        if subscription:
            context = self.execution_context.context
            partial: list[GraphQLError] = list(getattr(context, "partial_errors", ()))
            errors = [translate(error) for error in (getattr(result, "errors", None) or [])]
            if errors or partial:
                result.errors = errors + partial
        yield
