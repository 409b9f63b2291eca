"""The front door: what every HTTP request passes before (and after) the app handles it.

A pure ASGI middleware (so the request's `RequestScope` is set in the task that serves it
and every task started for it inherits it). Per request it:

- takes a sane `X-Request-Id` or makes one, and echoes it on the response;
- authenticates `/graphql` and `/export` (401 before anything runs; `/healthz` and
  `/readyz` are open, `/webhooks/*` authenticate by signature) and leaves the `Identity` in
  the ASGI scope's state for the GraphQL context; `/metrics` takes only its own key
  (`gateway.web.probes.authorize_metrics`);
- refuses a `/graphql` body over `limits.max_body_bytes` (413, `OPERATION_LIMIT`);
- sets a GraphQL request's deadline (`request_timeout`) for every upstream call it causes
  (not a subscription's: a WebSocket or a stream lives as long as its client stays);
- opens the OpenTelemetry server span (continuing an incoming `traceparent`);
- counts GraphQL requests by operation and outcome and writes one JSON log line;
- answers an exception that escapes the app as a JSON 500 (`INTERNAL_SERVER_ERROR`, with
  `X-Request-Id`, no detail), and logs it on the request's line with its real status and
  the traceback as one field: no multi-line record, nothing left for the server to log.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import traceback
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.domain.identity import Identity
from gateway.errors import BodyTooLarge, MetricsRefused, Unauthenticated
from gateway.support.metrics import GatewayMetrics
from gateway.upstream.plugins import Admission, UpstreamPlugin
from gateway.upstream.scope import RequestScope, request_scope
from gateway.web.access import Authenticator
from gateway.web.bodies import CLOSE, read_capped
from gateway.web.graphql_http import wants_stream
from gateway.web.probes import authorize_metrics

logger = logging.getLogger("invoice_gateway.requests")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_PROPAGATOR = TraceContextTextMapPropagator()
GUARDED = ("/graphql", "/export")
METRICS = "/metrics"


def _guarded(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in GUARDED)


def _graphiql_page(scope: Scope, headers: dict[str, str]) -> bool:
    """A browser asking for the GraphiQL page: no data in it, and a browser cannot send a
    bearer token with a page load (GraphiQL sends it with each query, from its headers tab)."""
    return (
        scope["type"] == "http" and scope["method"] == "GET" and scope["path"] == "/graphql"
        and not scope.get("query_string") and "text/html" in headers.get("accept", "")
    )


def graphql_error(message: str, code: str, **extensions: Any) -> bytes:
    """A GraphQL-shaped error body for answers given before GraphQL runs."""
    return json.dumps(
        {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]}
    ).encode()


class FrontDoor:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        incoming = headers.get("x-request-id", "")
        request = RequestScope()
        if _REQUEST_ID.match(incoming):
            request.request_id = incoming
        path: str = scope["path"]
        if path == "/graphql" and scope["type"] == "http" and not wants_stream(
            headers.get("accept")
        ):
            # One deadline per GraphQL request. A subscription (a WebSocket, or a multipart
            # or SSE stream) lives as long as its client stays, and an export streams for
            # as long as it takes: their upstream calls are bounded by the source's timeout.
            request.deadline = time.monotonic() + state.config.request_timeout
        started = time.perf_counter()
        status = {"code": 0}
        id_header = (b"x-request-id", request.request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message["headers"] = [*message.get("headers", []), id_header]
            elif message["type"] == "websocket.accept":
                status["code"] = 101
            await send(message)

        tracer: trace.Tracer = state.tracer
        with tracer.start_as_current_span(
            f"{scope.get('method', 'WS')} {path}", kind=SpanKind.SERVER,
            context=_PROPAGATOR.extract(headers),
            attributes={"http.request.method": scope.get("method", "GET"), "url.path": path,
                        "invoice_gateway.request_id": request.request_id},
        ) as span, request_scope(request):
            # The upstream plug-ins (gateway.upstream.plugins) see HTTP requests only: a
            # WebSocket lives as long as its subscriptions (counted as being served, it
            # would stop the GC pacing for all that time).
            plugins: tuple[UpstreamPlugin, ...] = (
                state.plugins if scope["type"] == "http" else ())
            for plugin in plugins:
                plugin.request_started(request)
            try:
                await self._serve(scope, receive, send_with_id, headers, request)
            except Exception:
                request.tracebacks.append(traceback.format_exc())
                request.outcome = request.outcome or "error"
                span.set_status(trace.StatusCode.ERROR)
                await _internal_error(scope, send_with_id, started=bool(status["code"]))
            finally:
                for plugin in plugins:
                    plugin.request_finished(request)
                request.end()
                if request.operation:
                    span.update_name(f"graphql {request.operation}")
                    span.set_attribute("graphql.operation.name", request.operation)
                if status["code"]:
                    span.set_attribute("http.response.status_code", status["code"])
                self._report(state.metrics, scope, path, status["code"], request, started)

    async def _serve(self, scope: Scope, receive: Receive, send: Send,
                     headers: dict[str, str], request: RequestScope) -> None:
        state = scope["app"].state
        path: str = scope["path"]
        peer = scope.get("client")
        if path == METRICS or path.startswith(METRICS + "/"):
            try:
                authorize_metrics(state.config, headers.get("authorization"),
                                  peer[0] if peer else None)
            except MetricsRefused as exc:
                challenge = [(b"www-authenticate", b"Bearer")] if exc.status == 401 else None
                await _reply(send, exc.status, graphql_error(str(exc), exc.code), challenge)
                return
            await self.app(scope, receive, send)
            return
        if not _guarded(path) or _graphiql_page(scope, headers):
            await self.app(scope, receive, send)
            return
        authenticator: Authenticator = state.authenticator
        if scope["type"] == "websocket" and "authorization" not in headers:
            # Browsers cannot set headers on a WebSocket: such a connection names its
            # credential in `connection_init`, which the GraphQL router checks before it
            # acknowledges the connection (nothing runs before that).
            await self.app(scope, receive, send)
            return
        try:
            identity: Identity = await authenticator.identify(
                headers.get("authorization"), peer[0] if peer else None
            )
        except Unauthenticated as exc:
            request.outcome = "unauthenticated"
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 4401, "reason": str(exc)})
                return
            await _reply(send, 401, graphql_error(str(exc), "UNAUTHENTICATED"),
                         [(b"www-authenticate", b"Bearer")])
            return
        request.client = identity.client
        scope.setdefault("state", {})["identity"] = identity
        if scope["type"] == "http" and scope["method"] == "POST" and path == "/graphql":
            limit: int = state.config.limits.max_body_bytes
            try:
                body = await read_capped(receive, limit, scope["headers"])
            except BodyTooLarge:
                request.outcome = "limited"
                message = f"request body larger than max_body_bytes ({limit} bytes)"
                await _reply(send, 413, graphql_error(message, "OPERATION_LIMIT",
                                                      limit="max_body_bytes"), [CLOSE])
                return
            receive = _replay(body, receive)
            await _admitted(state, identity, request, "POST", body)
        elif scope["type"] == "http" and len(scope.get("query_string", b"")) > (
            state.config.limits.max_body_bytes
        ):
            request.outcome = "limited"
            await _reply(send, 414, graphql_error("query string larger than max_body_bytes",
                                                  "OPERATION_LIMIT", limit="max_body_bytes"))
            return
        elif scope["type"] == "http" and path == "/graphql" and scope.get("query_string"):
            await _admitted(state, identity, request, scope["method"], scope["query_string"])
        await self.app(scope, receive, send)

    def _report(self, metrics: GatewayMetrics, scope: Scope, path: str, status: int,
                request: RequestScope, started: float) -> None:
        if path == "/graphql" and request.outcome is not None:
            metrics.graphql_requests.labels(
                metrics.operation_label(request.operation), request.outcome
            ).inc()
        level = logging.ERROR if request.tracebacks else logging.INFO
        if not logger.isEnabledFor(level):
            return  # `--log-level warning` and above: no request log to build
        line = {
            "request_id": request.request_id,
            "method": scope.get("method", "WS"),
            "path": path,
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "client": request.client,
            "operation": request.operation,
            "outcome": request.outcome,
            "sources": sorted(request.sources),
            "error_codes": sorted(request.error_codes),
        }
        if request.stale:
            line["stale_sources"] = sorted(request.stale)
        if request.tracebacks:
            line["traceback"] = "\n".join(request.tracebacks)
        logger.log(level, json.dumps(line, separators=(",", ":")))


async def _admitted(state: Any, identity: Identity, request: RequestScope,
                    method: str, payload: bytes) -> None:
    """Tell the upstream plug-ins a GraphQL request was let in (early reads start the reads
    this caller's same request made first last time)."""
    plugins: tuple[UpstreamPlugin, ...] = state.plugins
    if not plugins:
        return
    readers = {name: adapter.client.read for name, adapter in state.adapters.items()
               if identity.may_read(name)}
    admission = Admission(identity.client, method, payload, readers)
    started = [await plugin.request_admitted(request, admission) for plugin in plugins]
    if any(started):
        # Let them leave now: nothing on the way to the resolvers waits on anything, so
        # without this turn of the event loop they would start only when a resolver joins.
        await asyncio.sleep(0)


async def _internal_error(scope: Scope, send: Send, *, started: bool) -> None:
    """Answer an exception that escaped the app: a coded JSON 500 when no response has
    started; else leave the response unfinished, so the server drops the connection and
    the client sees a broken answer rather than a complete-looking one."""
    if scope["type"] == "websocket":
        if not started:
            await send({"type": "websocket.close", "code": 1011,
                        "reason": "internal error; it has been logged"})
        return
    if not started:
        await _reply(send, 500, graphql_error(
            "Internal error; it has been logged.", "INTERNAL_SERVER_ERROR"
        ))


async def _reply(send: Send, status: int, body: bytes,
                 headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        *(headers or []),
    ]})
    await send({"type": "http.response.body", "body": body})


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
