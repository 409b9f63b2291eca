"""GraphQL over HTTP as the GraphQL-over-HTTP specification words it, and GraphiQL offline.

strawberry's FastAPI router answers every result as `application/json` with status 200.
`GatewayGraphQLRouter` changes only what the specification asks of a server that supports
`application/graphql-response+json`:

- a client that prefers it (its `Accept` names it at least as highly as `application/json`)
  gets that media type; a request error (the document does not parse, does not validate, or
  its variables cannot be coerced: no data was ever produced) then answers 400 without a
  `data` entry. A field error is still 200 with the partial data;
- a client that asks for `application/json`, `*/*` or nothing keeps the legacy answer
  (200 with `"data": null`), so existing clients see no change;
- a request refused before execution (a body that is not a JSON object, not UTF-8, nested
  too deep; `query`, `variables`, `operationName` or `extensions` of the wrong type; no
  query; a mutation over GET) keeps strawberry's 4xx status but is answered as a GraphQL
  error document naming what was wrong, with `extensions.code` (`BAD_REQUEST`, or
  `METHOD_NOT_ALLOWED` for a 405), instead of a bare text line or a 500. Every JSON a
  client sends is read by `jsonio.loads_request` (one place, with a nesting cap).

An answer whose JSON is larger than `limits.max_response_bytes` is not sent: one error
with `extensions.code: RESPONSE_TOO_LARGE` takes its place (docs/limits.md).

GraphiQL is the gateway's own page (`gateway/web/static/graphiql/index.html`) whose scripts
and styles are pinned copies served from `/static/graphiql/`, so it works without internet.
This module is part of the app layer: it sees both the HTTP side and the GraphQL side.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from fastapi import Request, Response, WebSocket
from fastapi.responses import HTMLResponse
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.streaming import MultipartSubscriptionTransport, SSETransport
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import (
    GRAPHQL_SSE_PROTOCOL,
    GRAPHQL_TRANSPORT_WS_PROTOCOL,
    GRAPHQL_WS_PROTOCOL,
    MULTIPART_SUBSCRIPTION_PROTOCOL,
)
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET, UnsetType

from gateway.errors import RequestJSONError, SubscriptionNeedsStream, Unauthenticated
from gateway.support import jsonio
from gateway.web.cors import OriginPolicy
from gateway.web.ws_protocols import LegacyGraphQLWSHandler, TextFrameWebSocketAdapter

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
APPLICATION_JSON = "application/json"
ASSETS_PATH = "/static/graphiql"
_MEDIA_STATE = "graphql_media_type"
# Subscriptions: over a WebSocket (both subprotocols) or streamed over HTTP, as Apollo's
# multipart subscriptions or graphql-sse's distinct connections mode.
SUBSCRIPTION_PROTOCOLS = (GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL,
                          MULTIPART_SUBSCRIPTION_PROTOCOL, GRAPHQL_SSE_PROTOCOL)
_STREAMS = (MultipartSubscriptionTransport(), SSETransport())
NEEDS_STREAM = (
    "a subscription over HTTP is a stream of events: send 'Accept: "
    "multipart/mixed;subscriptionSpec=1.0' (multipart subscriptions, as Apollo Client and "
    "Router do) or 'Accept: text/event-stream' (graphql-sse), or subscribe over a "
    "WebSocket on /graphql (graphql-transport-ws)"
)
_STATUS_STATE = "graphql_status"


def graphiql_assets() -> Any:
    """The folder of pinned GraphiQL assets inside the installed package."""
    return resources.files("gateway.web") / "static" / "graphiql"


def preferred_media_type(accept: str | None) -> str:
    """`application/graphql-response+json` when the Accept header prefers it, else JSON.

    Only an explicit mention counts: `*/*` and `application/*` keep the legacy
    `application/json`, as the specification asks during its transition period.
    """
    weights: dict[str, float] = {}
    for item in (accept or "").split(","):
        media, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media:
            weights[media.lower()] = max(quality, weights.get(media.lower(), 0.0))
    wanted = weights.get(GRAPHQL_RESPONSE_JSON, 0.0)
    legacy = max(weights.get(APPLICATION_JSON, 0.0), weights.get("application/*", 0.0),
                 weights.get("*/*", 0.0))
    return GRAPHQL_RESPONSE_JSON if wanted > 0 and wanted >= legacy else APPLICATION_JSON


def wants_stream(accept: str | None) -> bool:
    """The Accept header asks for a subscription stream (multipart or graphql-sse)."""
    return any(transport.accepts(accept or "") for transport in _STREAMS)


def is_request_error(result: ExecutionResult) -> bool:
    """No data was produced: every error happened before execution (they carry no path)."""
    return result.data is None and bool(result.errors) and all(
        error.path is None for error in result.errors or ()
    )


# `connection_ack` without a payload (strawberry's UNSET is typed Any).
PLAIN_ACK: UnsetType = UNSET


class GatewayGraphQLRouter(GraphQLRouter[Any, None]):
    """strawberry's router with media-type negotiation and the gateway's GraphiQL page."""

    websocket_adapter_class = TextFrameWebSocketAdapter
    graphql_ws_handler_class = LegacyGraphQLWSHandler

    def __init__(self, schema: Any, **options: Any) -> None:
        options.setdefault("subscription_protocols", SUBSCRIPTION_PROTOCOLS)
        super().__init__(schema, **options)

    def decode_json(self, data: str | bytes) -> object:
        # Also what strawberry's WebSocket handlers read messages with: a RequestJSONError
        # is a JSONDecodeError, which they answer as a message that is not JSON.
        return jsonio.loads_request(data)

    def parse_json(self, data: str | bytes) -> Any:
        """The POST body: a JSON object (or a list, which strawberry refuses as a batch)."""
        try:
            value = jsonio.loads_request(data)
        except RequestJSONError as exc:
            raise HTTPException(400, f"Unable to parse request body as JSON: {exc}") from None
        if not isinstance(value, dict | list):
            raise HTTPException(
                400, f"The request body must be a JSON object, got {_json_kind(value)}"
            )
        return value

    def parse_query_params(self, params: Mapping[str, str | None]) -> dict[str, Any]:
        """A GET's parameters, `variables` and `extensions` read as JSON (named on error)."""
        parsed: dict[str, Any] = dict(params)
        for name in ("variables", "extensions"):
            if parsed.get(name):
                try:
                    parsed[name] = jsonio.loads_request(parsed[name])
                except RequestJSONError as exc:
                    raise HTTPException(
                        400, f"Unable to parse the `{name}` parameter as JSON: {exc}"
                    ) from None
        return parsed

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        data = await super().parse_http_body(request)
        for item in data if isinstance(data, list) else [data]:
            if not isinstance(item.operation_name, str | None):
                raise HTTPException(
                    400, "The GraphQL operation's `operationName` must be a string or null, "
                    f"if provided; got {_json_kind(item.operation_name)}",
                )
        return data

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Any,
        root_value: Any,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """A request without a streaming Accept (streams go to `schema.stream`): strawberry's
        own, except that a subscription is refused (`SubscriptionNeedsStream`, answered 406)
        instead of run as a query, which fails inside with an internal error."""
        allowed = OperationType.from_http(request_adapter.method) - {OperationType.SUBSCRIPTION}
        if not self.allow_queries_via_get and request_adapter.method == "GET":
            allowed.discard(OperationType.QUERY)
        try:
            return await self.schema.execute(
                request_data.query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )
        except InvalidOperationTypeError as exc:
            if exc.operation_type is OperationType.SUBSCRIPTION:
                raise SubscriptionNeedsStream from None
            raise HTTPException(400, exc.as_http_error_reason(request_adapter.method)) from None
        except CannotGetOperationTypeError as exc:
            raise HTTPException(400, exc.as_http_error_reason()) from None
        except MissingQueryError:
            raise HTTPException(400, "No GraphQL query found in the request") from None

    def encode_json(self, data: object) -> bytes:
        return jsonio.dumps(data)

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        page = (graphiql_assets() / "index.html").read_text(encoding="utf-8")
        root = request.scope.get("root_path", "")
        return HTMLResponse(page.replace("__ASSETS__", f"{root}{ASSETS_PATH}"))

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        response = await super().process_result(request, result)
        media = preferred_media_type(request.headers.get("accept"))
        request.state.graphql_media_type = media
        if media == GRAPHQL_RESPONSE_JSON and is_request_error(result):
            response.pop("data", None)
            request.state.graphql_status = 400
        return response

    def is_websocket_origin_allowed(self, request: WebSocket, origin: str) -> bool:
        """A page on another origin may open a WebSocket only from an origin `cors.origins`
        allows (strawberry always lets in its own origin and non-browser clients)."""
        policy: OriginPolicy = request.app.state.origins
        return policy.allowed(origin)

    async def on_ws_connect(self, context: Any) -> UnsetType | dict[str, object] | None:
        """Authenticate a WebSocket that sent no `Authorization` header from the
        `connection_init` payload (`{"Authorization": "Bearer <key or JWT>"}`); refuse the
        connection (close 4403) when that credential is missing where one is needed, or
        wrong."""
        connection = context.request
        if getattr(connection.state, "identity", None) is not None:
            return PLAIN_ACK  # the front door already checked the handshake's header
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        credential = params.get("Authorization", params.get("authorization"))
        peer = connection.client.host if connection.client else None
        try:
            identity = await connection.app.state.authenticator.identify(
                credential if isinstance(credential, str) else None, peer
            )
        except Unauthenticated as exc:
            raise ConnectionRejectionError(
                {"message": str(exc), "code": "UNAUTHENTICATED"}
            ) from None
        connection.state.identity = identity
        context.use_identity(identity)
        return PLAIN_ACK

    async def run(  # type: ignore[override]
        self,
        request: Request | WebSocket,
        context: Any = UNSET,
        root_value: Any = UNSET,
    ) -> Response | WebSocket:
        if isinstance(request, WebSocket):
            return await super().run(request, context, root_value)
        try:
            response = await super().run(request, context, root_value)
        except HTTPException as exc:
            return _error_response(request, exc.status_code, exc.reason)
        except SubscriptionNeedsStream:
            return _error_response(request, 406, NEEDS_STREAM, "INVALID_ACCEPT_HEADER")
        body = getattr(response, "body", None)  # streamed results (multipart, SSE) have none
        limit = request.app.state.config.limits.max_response_bytes
        if isinstance(body, bytes) and len(body) > limit:
            response.body = response_too_large(len(body), limit)
            response.headers["content-length"] = str(len(response.body))
        media = getattr(request.state, _MEDIA_STATE, None)
        # Only single JSON results: streamed ones (multipart, SSE) keep their own type.
        plain_json = response.headers.get("content-type", "").startswith(APPLICATION_JSON)
        if media == GRAPHQL_RESPONSE_JSON and plain_json:
            response.headers["content-type"] = f"{media}; charset=utf-8"
            response.status_code = getattr(request.state, _STATUS_STATE, response.status_code)
        return response


def _json_kind(value: object) -> str:
    """What a JSON value is, in JSON's words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def response_too_large(size: int, limit: int) -> bytes:
    """The answer sent in place of one larger than `limit` bytes."""
    message = (f"the answer would be {size} bytes, more than max_response_bytes ({limit}); "
               "select fewer fields or ask for smaller pages ('first')")
    return jsonio.dumps({"data": None, "errors": [{"message": message, "extensions": {
        "code": "RESPONSE_TOO_LARGE", "limit": "max_response_bytes"}}]})


def _error_response(
    request: Request, status: int, message: str, code: str | None = None
) -> Response:
    """A request refused before execution, as a GraphQL response with one coded error."""
    media = preferred_media_type(request.headers.get("accept"))
    code = code or {405: "METHOD_NOT_ALLOWED", 404: "NOT_FOUND"}.get(status, "BAD_REQUEST")
    if status >= 500:  # strawberry raises HTTPExceptions for client errors only, but
        status, code = 400, "BAD_REQUEST"  # nothing a client sends is ever a 5xx
    body = json.dumps({"errors": [{"message": message, "extensions": {"code": code}}]})
    headers = {"allow": "GET, POST"} if status == 405 else None
    return Response(body, status, headers=headers, media_type=f"{media}; charset=utf-8")
