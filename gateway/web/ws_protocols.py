"""The two WebSocket subprotocols as the gateway speaks them, on top of strawberry's handlers.

- Every message leaves as a text frame (`TextFrameWebSocketAdapter`): graphql-ws (npm), gql
  and GraphiQL refuse binary ones.
- Every error a socket sends carries `extensions.code`: graphql-transport-ws `error` and
  `next` with errors, legacy graphql-ws `error`, `data` with errors and `connection_error`.
  Errors from the schema already have one (resolvers/errors.py); those strawberry's
  handlers make themselves ("Subscription limit reached", an operation type the legacy
  protocol does not run, a refused `connection_init`) get one here, on their way out.
- A socket that sends no `connection_init` within `limits.connection_init_timeout` is
  closed with 4408 "Connection initialisation timeout" under both subprotocols: strawberry
  times graphql-transport-ws itself (the router's `connection_init_wait_timeout`, set from
  the configuration), and `LegacyGraphQLWSHandler` adds the same to graphql-ws, where
  strawberry has no timer and a silent socket would stay open forever.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from contextlib import suppress
from typing import Any

from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import ConnectionInitMessage

from gateway.support import jsonio

INIT_TIMEOUT_CODE = 4408
INIT_TIMEOUT_REASON = "Connection initialisation timeout"
# Errors strawberry's protocol handlers word themselves, and their codes.
HANDLER_ERROR_CODES = {
    "Subscription limit reached": "OPERATION_LIMIT",
    "queries are not allowed": "BAD_REQUEST",
    "mutations are not allowed": "BAD_REQUEST",
}
FALLBACK_CODE = "BAD_REQUEST"
BAD_INIT_PAYLOAD = "connection_init payload must be a JSON object"


def coded_error(error: object) -> dict[str, Any]:
    """A GraphQL error (as sent) that carries `extensions.code`, adding one if it has none."""
    if not isinstance(error, Mapping):
        return {"message": str(error), "extensions": {"code": FALLBACK_CODE}}
    extensions = error.get("extensions")
    if isinstance(extensions, Mapping) and extensions.get("code"):
        return dict(error)
    message = str(error.get("message", ""))
    code = error.get("code") or HANDLER_ERROR_CODES.get(message) or (
        "GRAPHQL_PARSE_FAILED" if message.startswith("Syntax Error") else FALLBACK_CODE
    )
    return {**error, "extensions": {**(extensions or {}), "code": code}}


def with_codes(message: Mapping[str, Any]) -> Mapping[str, Any]:
    """The protocol message with `extensions.code` on every error it carries."""
    kind = message.get("type")
    payload = message.get("payload")
    if kind == "error":
        if isinstance(payload, list):  # graphql-transport-ws: a list of errors
            return {**message, "payload": [coded_error(error) for error in payload]}
        return {**message, "payload": coded_error(payload)}  # graphql-ws: one error
    if kind in ("next", "data") and isinstance(payload, Mapping) and payload.get("errors"):
        errors = [coded_error(error) for error in payload["errors"]]
        return {**message, "payload": {**payload, "errors": errors}}
    if kind == "connection_error":
        return {**message, "payload": coded_error(payload or {"message": BAD_INIT_PAYLOAD})}
    return message


class TextFrameWebSocketAdapter(ASGIWebSocketAdapter):
    """Every WebSocket message as a text frame, every error in it with a code.

    Both subprotocols (graphql-transport-ws and the legacy graphql-ws) are text protocols:
    graphql-ws (npm), gql and GraphiQL refuse binary frames. strawberry sends whatever
    `encode_json` returns, and the router's returns bytes (fast for HTTP bodies).
    """

    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.ws.send_text(jsonio.dumps(with_codes(message)).decode())
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


class LegacyGraphQLWSHandler(BaseGraphQLWSHandler[Any, None]):
    """strawberry's graphql-ws (subscriptions-transport-ws) handler with the init timeout
    that graphql-transport-ws has: the router's `connection_init_wait_timeout`."""

    init_received = False

    async def handle(self) -> None:
        timer = asyncio.create_task(self._close_without_init())
        try:
            await super().handle()
        finally:
            timer.cancel()
            with suppress(asyncio.CancelledError):
                await timer

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        self.init_received = True
        await super().handle_connection_init(message)

    async def _close_without_init(self) -> None:
        await asyncio.sleep(self.view.connection_init_wait_timeout.total_seconds())
        if not self.init_received:
            with suppress(WebSocketDisconnected, WebSocketDisconnect, RuntimeError):
                await self.websocket.close(code=INIT_TIMEOUT_CODE, reason=INIT_TIMEOUT_REASON)
