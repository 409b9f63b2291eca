"""Persisted queries on `/graphql` (POST and GET), and Cache-Control on successful GETs.

An ASGI middleware in front of the GraphQL router: it resolves
`extensions.persistedQuery` (`gateway.web.persisted`) into the query text before the router
parses the request, and answers persisted-query errors itself. A GET of a query whose
response carries no error gets `Cache-Control` (what makes APQ over GET worth it: CDNs
and browsers can cache by URL), `private` when the request carried credentials.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import PersistedQueryError, RequestJSONError
from gateway.support import jsonio
from gateway.web.persisted import PersistedQueries


class PersistedQueryMiddleware:
    def __init__(self, app: ASGIApp, path: str = "/graphql") -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/") != self.path:
            await self.app(scope, receive, send)
            return
        persisted: PersistedQueries | None = getattr(scope["app"].state, "persisted", None)
        if persisted is None:
            await self.app(scope, receive, send)
            return
        try:
            if scope["method"] == "GET":
                scope = _resolve_get(scope, persisted)
                await self.app(scope, receive, _cacheable(scope, send))
                return
            if scope["method"] == "POST" and _is_json(scope):
                body = await _read(receive, scope["app"].state.config.limits.max_body_bytes)
                body = _resolve_post(body, persisted)
                headers = [(k, v) for k, v in scope["headers"] if k != b"content-length"]
                headers.append((b"content-length", str(len(body)).encode()))
                await self.app({**scope, "headers": headers}, _replay(body, receive), send)
                return
        except PersistedQueryError as exc:
            await _error(send, exc)
            return
        await self.app(scope, receive, send)


def _resolve_get(scope: Scope, persisted: PersistedQueries) -> Scope:
    params = parse_qsl(scope.get("query_string", b"").decode("latin-1"),
                       keep_blank_values=True)
    values = dict(params)
    if "extensions" not in values and "query" not in values:
        return scope  # GraphiQL's page, or nothing to resolve
    extensions = _json(values.get("extensions"), "extensions")
    query = persisted.resolve(values.get("query"), extensions)
    if query is None or query == values.get("query"):
        return scope
    params = [(k, v) for k, v in params if k != "query"] + [("query", query)]
    return {**scope, "query_string": urlencode(params).encode("latin-1")}


def _resolve_post(body: bytes, persisted: PersistedQueries) -> bytes:
    try:
        payload = jsonio.loads_request(body) if body else None
    except RequestJSONError:
        return body  # the router answers malformed JSON itself
    if not isinstance(payload, dict):
        return body
    query = payload.get("query")
    resolved = persisted.resolve(query if isinstance(query, str) else None,
                                 payload.get("extensions"))
    if resolved is None or resolved == query:
        return body
    return json.dumps({**payload, "query": resolved}).encode()


def _json(text: str | None, name: str) -> Any:
    if text is None:
        return None
    try:
        return jsonio.loads_request(text)
    except RequestJSONError as exc:
        raise PersistedQueryError(
            "BAD_REQUEST", f"Unable to parse the `{name}` parameter as JSON: {exc}"
        ) from None


def _is_json(scope: Scope) -> bool:
    for key, value in scope["headers"]:
        if key == b"content-type":
            media_type: bytes = value.split(b";")[0].strip().lower()
            return media_type == b"application/json"
    return False


async def _read(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > limit:  # the configured `limits.max_body_bytes`
            raise PersistedQueryError("OPERATION_LIMIT", f"request body over {limit} bytes", 413,
                                      limit="max_body_bytes")
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body once, then the connection's own messages: a streamed answer (a multipart
    or SSE subscription) listens for the client's disconnect for as long as it runs."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _cacheable(scope: Scope, send: Send) -> Send:
    """Add Cache-Control to a GET's JSON response when it has no `errors`."""
    credentials = any(key in (b"authorization", b"cookie") for key, _ in scope["headers"])
    max_age = getattr(scope["app"].state, "cache_max_age", 0)
    directive = f"{'private' if credentials else 'public'}, max-age={max_age}".encode()
    start: Message | None = None
    chunks: list[bytes] = []

    async def wrapped(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            content_type = dict(message.get("headers", [])).get(b"content-type", b"")
            if message["status"] == 200 and b"json" in content_type:
                start = message
                return
        elif start is not None and message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            headers = [(k, v) for k, v in start.get("headers", []) if k != b"cache-control"]
            if not _has_errors(body):
                headers.append((b"cache-control", directive))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await send(message)

    return wrapped


def _has_errors(body: bytes) -> bool:
    try:
        payload = json.loads(body)
    except ValueError:
        return True
    return not isinstance(payload, dict) or bool(payload.get("errors"))


async def _error(send: Send, exc: PersistedQueryError) -> None:
    extensions = {"code": exc.code, **exc.extensions}
    body = json.dumps({"errors": [{"message": str(exc), "extensions": extensions}]}).encode()
    await send({"type": "http.response.start", "status": exc.status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
