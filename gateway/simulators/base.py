"""What every upstream simulator shares: auth hook, seeding, and the `/_sim/` test controls.

A simulator is a Starlette app serving one upstream's documented API under `api_prefix`,
and, outside the API's paths, controls for tests and benchmarks:

    GET    /_sim/requests   request counts per route template: {"total": N, "routes": {...},
                            "recent": ["GET /api/invoices?limit=10&page=8", ...]} (the last
                            `RECENT` requests, path and query, oldest first)
    DELETE /_sim/requests   zero the counts and forget the recent requests
    PUT    /_sim/latency    {"ms": 25}: delay every API request
    POST   /_sim/faults     {"mode": M, "times": 1, "path": "/invoices", "method": "POST",
                             "retry_after": 1, "rate": 1.0, "hold": 5}
                            M is 500 | 503 | 429 | hang | malformed | drop | late; `path`
                            (optional) is a substring the request path must contain, `method`
                            (optional) the request's method; `rate` (optional) the share of
                            matching requests that get the fault (seeded draw). `late` serves
                            the request (a write commits) and holds its reply `hold` seconds:
                            the caller's outcome is unknown when it gives up first
    DELETE /_sim/faults     clear injected faults
    POST   /_sim/reset      re-seed the data and clear counts, latency and faults
    GET    /_sim/info       kind, base path, token, seed
    PUT    /_sim/webhook    {"url": "http://...", "secret": "..."}: where (and with which
                            secret) the simulator sends signed webhooks for its writes
    GET    /_sim/webhook    the target and the last deliveries; DELETE stops sending

Subclasses implement `seed_data`, `api_routes`, `unauthorized`, `remote_ids` and
`missing_id`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.simulators.webhooks import WebhookSender

# Seeded data is laid out around this fixed day, so that a seed gives the same records
# (and the same overdue invoices) whatever day the simulator runs.
SIM_TODAY = date(2026, 11, 1)
SIM_NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)

FAULT_MODES = ("500", "503", "429", "hang", "malformed", "drop", "late")
HANG_SECONDS = 120.0


class SimulatedDrop(Exception):
    """Raised mid-response to make the server close the connection (fault mode `drop`)."""


class _QuietDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, SimulatedDrop)


logging.getLogger("uvicorn.error").addFilter(_QuietDrops())


@dataclass
class Fault:
    mode: str
    times: int = 1
    path: str | None = None
    retry_after: int = 1
    rate: float = 1.0
    method: str | None = None
    hold: float = 5.0


RECENT = 200  # requests `GET /_sim/requests` lists, path and query


@dataclass
class Controls:
    latency_ms: float = 0.0
    faults: list[Fault] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=RECENT))
    # Draws for faults with a rate below 1: seeded, so a chaos run can be repeated.
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    def take_fault(self, path: str, method: str = "GET") -> Fault | None:
        for fault in self.faults:
            if (fault.path is None or fault.path in path) and (
                fault.method is None or fault.method.upper() == method
            ):
                if fault.rate < 1.0 and self.rng.random() >= fault.rate:
                    continue
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                return fault
        return None


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON reply serialized the way the upstreams do (no ASCII escaping games)."""
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


class Simulator:
    """Base of the upstream simulators, one subclass per kind (`gateway.registry`)."""

    kind: ClassVar[str]
    api_prefix: ClassVar[str] = ""
    default_token: ClassVar[str] = "sim-token"

    # Kinds whose upstream sends webhooks set this; their writes call `self.webhooks.send`.
    sends_webhooks: ClassVar[bool] = False

    def __init__(
        self, seed: int = 7, token: str | None = None, invoices: int | None = None
    ) -> None:
        self.seed = seed
        self.token = token or self.default_token
        # How many invoices to seed (`simulate --invoices N`); None keeps the kind's own
        # small data set, which the tests know record by record.
        self.invoice_count = invoices
        self.controls = Controls()
        # The webhook target survives `/_sim/reset` (it is wiring, not data).
        self.webhooks = WebhookSender(f"whsec-sim-{self.kind}")
        self.reset()

    # --- for subclasses -------------------------------------------------------------
    def seed_data(self, rng: random.Random) -> None:
        """(Re)build every record from `rng`; deterministic for a given seed."""
        raise NotImplementedError

    def api_routes(self) -> list[BaseRoute]:
        """The upstream's documented routes, with paths relative to `api_prefix`."""
        raise NotImplementedError

    def unauthorized(self) -> Response:
        """The 401 reply in the upstream's own error shape."""
        raise NotImplementedError

    def remote_ids(self, resource: str) -> list[str]:
        """Ids of the records of `resource` (invoices, customers, vendors, payments) held,
        in the order the upstream lists them; for tests."""
        raise NotImplementedError

    def listed_ids(self, resource: str) -> list[str]:
        """Ids a complete unified list of `resource` shows; for tests."""
        return self.remote_ids(resource)

    def missing_id(self, resource: str) -> str:
        """An id of the right form for `resource` that no record has; for tests."""
        raise NotImplementedError

    def authenticate(self, request: Request) -> Response | None:
        """None when the request may proceed, else the error reply. Bearer token check."""
        header = request.headers.get("authorization", "")
        scheme, _, credential = header.partition(" ")
        if scheme.lower() != "bearer" or credential != self.token:
            return self.unauthorized()
        return None

    def source_block(self, base_url: str, name: str) -> dict[str, Any]:
        """A configuration block for a gateway source pointing at this simulator."""
        block = {"name": name, "kind": self.kind, "base_url": base_url, "token": self.token}
        if self.sends_webhooks:
            block["webhook_secret"] = self.webhooks.secret
        return block

    def describe(self) -> dict[str, str]:
        """Extra facts printed by `invoice-gateway simulate` (e.g. a tenant slug)."""
        return {}

    # --- shared machinery -----------------------------------------------------------
    def reset(self) -> None:
        self.controls = Controls()
        self.seed_data(random.Random(self.seed))

    def app(self) -> ASGIApp:
        routes = self.api_routes()
        starlette = Starlette(
            routes=[
                Route("/_sim/requests", self._sim_requests, methods=["GET", "DELETE"]),
                Route("/_sim/latency", self._sim_latency, methods=["PUT", "POST"]),
                Route("/_sim/faults", self._sim_faults, methods=["POST", "DELETE"]),
                Route("/_sim/reset", self._sim_reset, methods=["POST"]),
                Route("/_sim/info", self._sim_info, methods=["GET"]),
                Route("/_sim/webhook", self._sim_webhook, methods=["GET", "PUT", "DELETE"]),
                *([Mount(self.api_prefix, routes=routes)] if self.api_prefix else routes),
            ]
        )
        return _ControlMiddleware(self, starlette, routes)

    async def _sim_requests(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.controls.counts.clear()
            self.controls.recent.clear()
        counts = self.controls.counts
        return JSONResponse({"total": sum(counts.values()), "routes": dict(counts),
                             "recent": list(self.controls.recent)})

    async def _sim_latency(self, request: Request) -> Response:
        body = await _json_body(request)
        ms = body.get("ms") if isinstance(body, dict) else None
        if not isinstance(ms, int | float) or ms < 0:
            return JSONResponse({"error": "body must be {\"ms\": <non-negative number>}"}, 400)
        self.controls.latency_ms = float(ms)
        return JSONResponse({"ms": ms})

    async def _sim_faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.controls.faults.clear()
            return JSONResponse({"faults": []})
        body = await _json_body(request)
        if not isinstance(body, dict) or str(body.get("mode")) not in FAULT_MODES:
            return JSONResponse({"error": f"mode must be one of {', '.join(FAULT_MODES)}"}, 400)
        fault = Fault(
            mode=str(body["mode"]),
            times=int(body.get("times", 1)),
            path=body.get("path"),
            retry_after=int(body.get("retry_after", 1)),
            rate=float(body.get("rate", 1.0)),
            method=body.get("method"),
            hold=float(body.get("hold", 5.0)),
        )
        self.controls.faults.append(fault)
        return JSONResponse({"faults": [vars(f) for f in self.controls.faults]})

    async def _sim_reset(self, request: Request) -> Response:
        self.reset()
        return JSONResponse({"reset": True, "seed": self.seed})

    async def _sim_webhook(self, request: Request) -> Response:
        if request.method == "PUT":
            body = await _json_body(request)
            url = body.get("url") if isinstance(body, dict) else None
            secret = body.get("secret", self.webhooks.secret) if isinstance(body, dict) else None
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                return JSONResponse({"error": 'body must be {"url": "http(s)://...", '
                                     '"secret": "<optional webhook secret>"}'}, 400)
            if not isinstance(secret, str) or not secret:
                return JSONResponse({"error": "secret must be a non-empty string"}, 400)
            self.webhooks.target(url, secret)
        elif request.method == "DELETE":
            self.webhooks.target(None)
        return JSONResponse({"sends_webhooks": self.sends_webhooks, **self.webhooks.describe()})

    async def _sim_info(self, request: Request) -> Response:
        return JSONResponse(
            {"kind": self.kind, "api_prefix": self.api_prefix, "token": self.token,
             "seed": self.seed, "invoices": self.invoice_count, **self.describe()}
        )


async def _json_body(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None


class _ControlMiddleware:
    """Counts API requests per route template, then applies latency, faults and auth."""

    def __init__(self, sim: Simulator, app: ASGIApp, routes: list[BaseRoute]) -> None:
        self.sim = sim
        self.app = app
        self.routes = [r for r in routes if isinstance(r, Route)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sim/"):
            await self.app(scope, receive, send)
            return
        controls = self.sim.controls
        path: str = scope["path"]
        controls.counts[self._template(scope["method"], path)] += 1
        query = scope["query_string"].decode("latin-1")
        controls.recent.append(f"{scope['method']} {path}?{query}" if query
                               else f"{scope['method']} {path}")
        if controls.latency_ms:
            await asyncio.sleep(controls.latency_ms / 1000)
        fault = controls.take_fault(path, scope["method"])
        if fault is not None and fault.mode == "late":
            send = _held(send, fault.hold)
        elif fault is not None:
            await _inject(fault, scope, receive, send)
            return
        denied = self.sim.authenticate(Request(scope, receive))
        if denied is not None:
            await denied(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _template(self, method: str, path: str) -> str:
        prefix = self.sim.api_prefix
        sub = path[len(prefix):] if prefix and path.startswith(prefix) else path
        for route in self.routes:
            if route.path_regex.match(sub) and (route.methods is None or method in route.methods):
                return f"{method} {route.path}"
        return f"{method} (unmatched)"


async def _inject(fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
    if fault.mode in ("500", "503"):
        status = int(fault.mode)
        reply = json_response({"message": "Simulated server error"}, status)
    elif fault.mode == "429":
        reply = json_response(
            {"message": "Too Many Attempts."}, 429, {"Retry-After": str(fault.retry_after)}
        )
    elif fault.mode == "malformed":
        reply = Response(b'{"data": [{"id": 1, "tot', media_type="application/json")
    elif fault.mode == "hang":
        await _hang(receive)
        return
    else:  # drop: promise a body, send part of it, then close the connection
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", b"4096")]})
        await send({"type": "http.response.body", "body": b'{"data": [', "more_body": True})
        raise SimulatedDrop("simulated connection drop")
    await reply(scope, receive, send)


def _held(send: Send, seconds: float) -> Send:
    """A `send` that holds the reply's start `seconds` (fault mode `late`): the request is
    served in full (a write commits) before its caller hears anything."""
    async def late(message: Message) -> None:
        if message["type"] == "http.response.start":
            await asyncio.sleep(seconds)
        await send(message)

    return late


async def _hang(receive: Receive) -> None:
    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(disconnected(), HANG_SECONDS)


Handler = Callable[[Request], Awaitable[Response]]
