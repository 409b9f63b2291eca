"""Request bodies read with a ceiling: never more than the cap is held in memory.

Every place that reads a request body reads it here: the front door (a GraphQL POST,
`limits.max_body_bytes`) and the webhook receiver (`limits.max_webhook_bytes`). A declared
`Content-Length` over the cap is refused before a byte of the body is read; a chunked
body is streamed and abandoned as soon as it passes the cap. The answer to a refused
body carries `Connection: close`, so the server stops reading the rest of it.
"""

from __future__ import annotations

from starlette.types import Receive

from gateway.errors import BodyTooLarge

CLOSE = (b"connection", b"close")


def declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The request's `Content-Length`, where it declares a sane one."""
    for name, value in headers:
        if name.lower() == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def read_capped(receive: Receive, limit: int,
                      headers: list[tuple[bytes, bytes]] | None = None) -> bytes:
    """The whole body from an ASGI `receive`, or `BodyTooLarge` as soon as it passes
    `limit` bytes (at once when `headers` declare a longer `Content-Length`)."""
    declared = declared_length(headers or [])
    if declared is not None and declared > limit:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
