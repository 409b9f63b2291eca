"""The HTTP server's own limits: request heads and connections (docs/security.md).

uvicorn's httptools protocol accepts a request head of any size (a 50 MB `Authorization`
header is buffered whole and handed to the app) and applies `limit_concurrency` to HTTP
requests but not to WebSocket upgrades. `BoundedHttpTools` adds both, configured through
uvicorn's own settings so that `serve --workers N` carries them to every worker:

- `h11_max_incomplete_event_size` (what h11 uses for the same purpose) is the ceiling on a
  request's head, `limits.max_header_bytes`: a longer head is answered 431 and the
  connection closed, before the app sees anything;
- `limit_concurrency` is `limits.max_connections`: past it, HTTP requests (by uvicorn's
  own test) and WebSocket upgrades (which uvicorn does not count) are answered 503
  `TOO_MANY_CONNECTIONS`;
- `ws_max_size` is `limits.max_body_bytes`: a WebSocket message is a request too.
"""

from __future__ import annotations

import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from gateway.config import LimitsConfig


def server_options(limits: LimitsConfig) -> dict[str, Any]:
    """uvicorn `Config` keyword arguments enforcing `limits`."""
    return {
        "http": BoundedHttpTools,
        "h11_max_incomplete_event_size": limits.max_header_bytes,
        "limit_concurrency": limits.max_connections,
        "ws_max_size": limits.max_body_bytes,
    }


class BoundedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with a ceiling on request heads and WebSockets."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_limit: int = self.config.h11_max_incomplete_event_size or (
            LimitsConfig().max_header_bytes)
        self.in_head = False  # between a request's first byte and the end of its headers
        self.head_bytes = 0
        self.refused = False  # answered here and closing: nothing more is parsed or run

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return
        head_was_open = self.in_head
        super().data_received(data)
        if self.in_head and head_was_open and not self.refused:
            # A head still incomplete after a whole read: count it as it arrives, so that
            # a huge one is refused with at most one read beyond the limit held.
            self.head_bytes += len(data)
            if self.head_bytes > self.head_limit:
                self._refuse_head()

    def on_message_begin(self) -> None:
        if self.refused:
            return
        self.in_head, self.head_bytes = True, 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        if not self.refused:
            super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.refused:
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self.refused:
            return
        self.in_head = False
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.head_limit:
            self._refuse_head()
            return
        if self._over_capacity():
            self._refuse(503, f"too many open connections (max_connections "
                         f"{self.limit_concurrency})", "TOO_MANY_CONNECTIONS", "max_connections")
            return
        super().on_headers_complete()

    def _over_capacity(self) -> bool:
        """uvicorn's own `limit_concurrency` test for HTTP requests (answered here, with a
        code, instead of its plain-text 503), and for WebSocket upgrades, which it skips,
        the open connections with this one."""
        limit = self.limit_concurrency
        if limit is None:
            return False
        if self.parser.should_upgrade():
            return len(self.connections) > limit
        return len(self.connections) >= limit or len(self.tasks) >= limit

    def on_body(self, body: bytes) -> None:
        if not self.refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self.refused:
            super().on_message_complete()

    def _refuse_head(self) -> None:
        self._refuse(431, f"request headers larger than max_header_bytes ({self.head_limit} "
                     "bytes)", "HEADERS_TOO_LARGE", "max_header_bytes")

    def _refuse(self, status: int, message: str, code: str, limit: str) -> None:
        """Answer at once, close the connection, and ignore whatever else arrives on it."""
        self.refused = True
        body = json.dumps(
            {"errors": [{"message": message, "extensions": {"code": code, "limit": limit}}]}
        ).encode()
        self.logger.warning("refused a request: %s", message)
        self.transport.write(b"".join([
            STATUS_LINE[status],
            *[name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers],
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n", body,
        ]))
        self.transport.close()
