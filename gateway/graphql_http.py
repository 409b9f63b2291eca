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
- a request strawberry rejects before execution (bad JSON, no query, a mutation over GET)
  keeps strawberry's status code but is answered as a GraphQL error document naming what
  was wrong instead of a bare text line.

GraphiQL is the gateway's own page (`gateway/static/graphiql/index.html`) whose scripts
and styles are pinned copies served from `/static/graphiql/`, so it works without internet.
This module is part of the app layer: it sees both the HTTP side and the GraphQL side.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

from cross_web import HTTPException
from fastapi import Request, Response, WebSocket
from fastapi.responses import HTMLResponse
from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLHTTPResponse
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from gateway import jsonio
from gateway.access import Unauthenticated
from gateway.cors import OriginPolicy

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
APPLICATION_JSON = "application/json"
ASSETS_PATH = "/static/graphiql"
_MEDIA_STATE = "graphql_media_type"
_STATUS_STATE = "graphql_status"


def graphiql_assets() -> Any:
    """The folder of pinned GraphiQL assets inside the installed package."""
    return resources.files("gateway") / "static" / "graphiql"


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


def is_request_error(result: ExecutionResult) -> bool:
    """No data was produced: every error happened before execution (they carry no path)."""
    return result.data is None and bool(result.errors) and all(
        error.path is None for error in result.errors or ()
    )


# `connection_ack` without a payload (strawberry's UNSET is typed Any).
PLAIN_ACK: UnsetType = UNSET


class TextFrameWebSocketAdapter(ASGIWebSocketAdapter):
    """Every WebSocket message as a text frame.

    Both subprotocols (graphql-transport-ws and the legacy graphql-ws) are text protocols:
    graphql-ws (npm), gql and GraphiQL refuse binary frames. strawberry sends whatever
    `encode_json` returns, and ours returns bytes (fast for HTTP bodies).
    """

    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.ws.send_text(jsonio.dumps(message).decode())
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


class GatewayGraphQLRouter(GraphQLRouter[Any, None]):
    """strawberry's router with media-type negotiation and the gateway's GraphiQL page."""

    websocket_adapter_class = TextFrameWebSocketAdapter

    def decode_json(self, data: str | bytes) -> object:
        return jsonio.loads(data)

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
        media = getattr(request.state, _MEDIA_STATE, None)
        # Only single JSON results: streamed ones (multipart, SSE) keep their own type.
        plain_json = response.headers.get("content-type", "").startswith(APPLICATION_JSON)
        if media == GRAPHQL_RESPONSE_JSON and plain_json:
            response.headers["content-type"] = f"{media}; charset=utf-8"
            response.status_code = getattr(request.state, _STATUS_STATE, response.status_code)
        return response


def _error_response(request: Request, status: int, message: str) -> Response:
    """A request refused before execution, as a GraphQL response with one error."""
    media = preferred_media_type(request.headers.get("accept"))
    body = json.dumps({"errors": [{"message": message}]})
    headers = {"allow": "GET, POST"} if status == 405 else None
    return Response(body, status, headers=headers, media_type=f"{media}; charset=utf-8")
