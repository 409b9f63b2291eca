"""Browser origins: CORS for `/graphql` and `/export/invoices`, and the WebSocket origin rule.

`BrowserOrigins` is the outermost middleware (contract "Browser clients (v3)",
docs/browser-clients.md):

- a request from an allowed origin (`cors.origins`: exact, or with one `*` host label) is
  handed to Starlette's `CORSMiddleware`, which answers its preflight itself (so a preflight
  never reaches the front door's authentication) and marks its responses;
- a request from any other origin gets no CORS header at all: its preflight is refused
  (403, a coded error) and its other requests are served unmarked, which a browser does
  not let the page read.

Other paths and requests without `Origin` pass through untouched. WebSockets get no CORS
from browsers; strawberry checks their `Origin` (same origin, or what
`OriginPolicy.allowed` says: `GatewayGraphQLRouter.is_websocket_origin_allowed`).
"""

from __future__ import annotations

import json
import logging
import re

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.config import CorsConfig

# The request log (gateway.web.frontdoor), which a refused preflight never reaches.
request_log = logging.getLogger("invoice_gateway.requests")
CORS_PATHS = ("/graphql", "/export/invoices")
METHODS = ("GET", "POST", "OPTIONS")
# What browser GraphQL clients send: the credential (`Authorization: Bearer <key>`), Apollo's
# CSRF-prevention header, a request id to correlate with our log. Safelisted headers
# (Accept, Content-Type with form types) need no listing; JSON's Content-Type does.
HEADERS = ("content-type", "authorization", "apollo-require-preflight", "x-request-id")
# The request id (for a support ticket; our log has the same), and what an export download
# needs: its file name and, where the sources say, how many rows follow.
EXPOSED = ("x-request-id", "content-disposition", "x-total-count")


def origin_pattern(origins: list[str]) -> re.Pattern[str] | None:
    """One regular expression for the origins with a `*` label (it matches one label)."""
    wild = [re.escape(origin).replace(r"\*", "[a-z0-9]([a-z0-9-]*[a-z0-9])?")
            for origin in origins if "*" in origin]
    return re.compile("|".join(wild)) if wild else None


class OriginPolicy:
    """Which browser origins may call: the configured ones (exact, or with one `*` label)."""

    def __init__(self, config: CorsConfig) -> None:
        self.config = config
        self.exact = frozenset(origin for origin in config.origins if "*" not in origin)
        self.pattern = origin_pattern(config.origins)

    def allowed(self, origin: str) -> bool:
        origin = origin.lower()
        return origin in self.exact or bool(self.pattern and self.pattern.fullmatch(origin))

    def middleware(self, app: ASGIApp) -> CORSMiddleware | None:
        """Starlette's CORS middleware for these origins around `app`; None without any."""
        if not self.config.origins:
            return None
        return CORSMiddleware(
            app, allow_origins=sorted(self.exact),
            allow_origin_regex=self.pattern.pattern if self.pattern else None,
            allow_methods=METHODS, expose_headers=EXPOSED,
            # Starlette adds the safelisted ones (Content-Type among them) itself.
            allow_headers=[name for name in HEADERS if name != "content-type"],
            allow_credentials=self.config.allow_credentials, max_age=self.config.max_age,
        )


class BrowserOrigins:
    """CORS for the allowed origins on `/graphql` and `/export/invoices`, nothing for others.

    The policy is the app's `state.origins` (set in the lifespan, where a demo app learns
    its configuration)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._policy: OriginPolicy | None = None
        self._cors: CORSMiddleware | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _cors_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None:
            await self.app(scope, receive, send)
            return
        policy: OriginPolicy = scope["app"].state.origins
        if policy is not self._policy:
            self._policy, self._cors = policy, policy.middleware(self.app)
        if self._cors is not None and policy.allowed(origin):
            await self._cors(scope, receive, send)
        elif scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await _refuse_preflight(send, origin)
            if request_log.isEnabledFor(logging.INFO):
                request_log.info(json.dumps({
                    "method": "OPTIONS", "path": scope["path"], "status": 403,
                    "outcome": "origin_not_allowed", "origin": origin,
                }, separators=(",", ":")))
        elif self._cors is not None:
            await self.app(scope, receive, _vary_origin(send))
        else:
            await self.app(scope, receive, send)


def _cors_path(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in CORS_PATHS)


def _vary_origin(send: Send) -> Send:
    """Mark an answer as depending on `Origin`, so that no cache hands the unmarked answer
    to an allowed origin (or a marked one to another)."""

    async def marked(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), (b"vary", b"Origin")]
        await send(message)

    return marked


async def _refuse_preflight(send: Send, origin: str) -> None:
    body = json.dumps({"errors": [{
        "message": f"origin {origin} is not allowed to call this gateway from a browser "
                   "(cors.origins)",
        "extensions": {"code": "ORIGIN_NOT_ALLOWED"},
    }]}).encode()
    await send({"type": "http.response.start", "status": 403, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"vary", b"Origin"),
    ]})
    await send({"type": "http.response.body", "body": body})
