"""One pooled HTTP client per source, and the single place transport failures are translated.

`SourceClient` sends its calls over a `gateway.upstream.wire` (aiohttp's client directly:
measured on this kind of machine at about 2.7x the requests per second of httpx's default
transport for the gateway's fan-out pattern, see docs/performance.md). It bounds concurrency per
source, caches and coalesces reads through `ReadCache`, and turns every failure into the
`UpstreamError` tree. Messages name the source and the path, never the token or the query
string.

Paths are templates (`get_json("/api/invoices/{id}", id=remote_id)`): the adapter declares
its routes and the shape of its ids (`gateway.upstream.routes`), and an id that cannot be one of the
upstream's is answered as not found without any request. The declared templates are the
only route labels of the metrics and spans.

Resilience (contract "Upstream resilience (v2)") lives here too, because this is where a
call's outcome is known: retries with jittered backoff (reads, and writes only when they
carry an idempotency key), `Retry-After` honoured when it fits the time budget, a circuit
breaker per source, stale-if-error through the cache, and one time budget per call: the
source's `timeout`, cut short by the request's deadline (`gateway.upstream.scope`). Every attempt is
counted in the app's metrics and traced as an OpenTelemetry client span whose W3C
`traceparent` goes upstream.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cachetools import LRUCache
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from yarl import URL

from gateway.errors import (
    InvalidRemoteId,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamNotFound,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
    WireError,
    WireTimeout,
    for_status,
)
from gateway.source_config import BreakerConfig
from gateway.support import jsonio
from gateway.support.metrics import GatewayMetrics
from gateway.upstream.breaker import CircuitBreaker, State
from gateway.upstream.cache import ReadCache
from gateway.upstream.plugins import Read, UpstreamPlugin
from gateway.upstream.routes import IdShape, Routes
from gateway.upstream.scope import current_scope
from gateway.upstream.wire import AiohttpWire, Reply, Wire, WireFactory

Params = Mapping[str, Any] | list[tuple[str, Any]]
# An upstream error body's human message and field errors (field -> messages).
ErrorDetail = tuple[str | None, dict[str, list[str]]]
logger = logging.getLogger("invoice_gateway.upstream")

# Failures that say the upstream is unwell (they count against its breaker and may be
# answered from a stale copy); any other answer, even a 404, proves it alive.
TRANSIENT = (UpstreamUnavailable, UpstreamTimeout, UpstreamRateLimited, UpstreamBadResponse)
RETRY_STATUSES = frozenset({502, 503, 504})
BACKOFF_BASE = 0.1
_PROPAGATOR = TraceContextTextMapPropagator()
_JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass(slots=True)
class Call:
    """One upstream request as `SourceClient` sends it (each attempt adds its own trace
    header to a copy of `headers`)."""

    method: str
    url: URL
    headers: Mapping[str, str]
    body: bytes | None = None
    text: str = field(init=False)  # the URL as sent

    def __post_init__(self) -> None:
        self.text = str(self.url)


class SourceClient:
    """HTTP access to one upstream: auth headers, pooling, timeouts, cache, error mapping,
    retries and the circuit breaker."""

    def __init__(
        self,
        source: str,
        base_url: str,
        headers: Mapping[str, str],
        *,
        timeout: float = 10.0,
        max_concurrency: int = 10,
        cache_ttl: float = 5.0,
        cache_size: int = 2048,
        retries: int = 0,
        breaker: BreakerConfig | None = None,
        stale_ttl: float = 0.0,
        wire: WireFactory = AiohttpWire,
        metrics: GatewayMetrics | None = None,
        tracer: trace.Tracer | None = None,
        clock: Callable[[], float] = time.monotonic,
        error_detail: Callable[[bytes], ErrorDetail] | None = None,
        plugins: Sequence[UpstreamPlugin] = (),
    ) -> None:
        # `clock` times the read cache's entries and the breaker's open spell (tests pass
        # a fake one, so that expiry and recovery need no sleeping).
        self.source = source
        # Each upstream words its errors its own way: its adapter reads them
        # (`Adapter.error_detail`); without one, an error says only its status.
        self._error_detail = error_detail or _no_detail
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self._wire: Wire = wire(headers, timeout=timeout, max_concurrency=max_concurrency)
        self._before: list[Callable[[], Awaitable[None]]] = []
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._urls: LRUCache[tuple[str, tuple[tuple[str, Any], ...]], URL] = LRUCache(1024)
        self.cache = ReadCache(cache_ttl, cache_size, stale_ttl, timer=clock)
        self._identity = hashlib.sha256(
            "\n".join(f"{k}:{v}" for k, v in sorted(headers.items())).encode()
        ).hexdigest()[:16]
        self._metrics = metrics
        self._tracer = tracer or trace.NoOpTracer()
        self.breaker: CircuitBreaker | None = None
        if breaker is not None:
            self.breaker = CircuitBreaker(
                breaker.failures, breaker.open_seconds, clock=clock,
                on_change=self._breaker_changed,
            )
            if metrics is not None:
                metrics.breaker_open.labels(source).set(0)
        self.calls = 0
        self.routes = Routes()
        # The app's opt-in speed tricks (gateway.upstream.plugins); empty by default.
        self._plugins = tuple(plugins)

    def declare(self, templates: Iterable[str], shape: IdShape | None) -> None:
        """The adapter's route templates and the shape of its upstream's ids."""
        self.routes = Routes(templates, shape)

    def _path(self, method: str, template: str, ids: Mapping[str, object]) -> str:
        try:
            return self.routes.expand(template, ids)
        except InvalidRemoteId as exc:
            # Nothing is sent: no record of the upstream can have such an id.
            raise UpstreamNotFound(self.source, f"{method} {template}: {exc}") from None

    def _breaker_changed(self, state: State) -> None:
        if self._metrics is not None:
            self._metrics.breaker_open.labels(self.source).set(0 if state == "closed" else 1)
        logger.warning("%s: circuit breaker %s", self.source, state.replace("_", "-"))

    async def get_json(self, path: str, params: Params | None = None, **ids: object) -> Any:
        """GET `path` and return the parsed JSON body, through the short-lived cache (or
        a read a plug-in already started for it, `gateway.upstream.plugins`). `path` is a template:
        each `{name}` in it is replaced by the id `ids[name]`, checked and encoded as one
        path segment."""
        route = self.routes.label(path)  # the template itself, where it is declared
        if ids:
            path = self._path("GET", path, ids)
        plugins = self._plugins
        scope = current_scope() if plugins else None
        if scope is None:
            return await self.read(path, params, route)
        pairs = tuple(params.items()) if isinstance(params, Mapping) else tuple(params or ())
        read: Read = (self.source, path, pairs)
        started = None
        for plugin in plugins:
            started = plugin.joined(scope, read)
            if started is not None:
                break
        try:
            if started is None:
                return await self.read(path, params, route)
            return await started
        finally:
            for plugin in plugins:
                plugin.replied(scope)

    async def read(
        self, path: str, params: Params | None = None, route: str | None = None
    ) -> Any:
        """The GET of `get_json` itself: through the cache, never joining an early read.
        `route` is the metric label (by default, the declared template `path` falls under)."""
        request = Call("GET", self._url(path, params), {})
        # Source, credential fingerprint (token and tenant headers) and full URL: replies
        # never cross sources, credentials or tenants, even in a shared cache backend.
        key = f"{self.source}|{self._identity}|{request.text}"
        if route is None:
            route = self.routes.label(path)
        scope = current_scope()
        if scope is not None:
            scope.sources.add(self.source)
            if scope.fresh:
                return await self._call(request, route, self.retries)
        served = await self.cache.get_or_fetch(
            key, lambda: self._call(request, route, self.retries), self._may_serve_stale,
            store=scope is None or not scope.bulk,
        )
        if self._metrics is not None:
            self._metrics.cache_requests.labels(self.source, served.result).inc()
        if served.result == "stale":
            if scope is not None:
                scope.served_stale(self.source, served.age)
            logger.warning("%s: GET %s failed; served a copy %.0fs old", self.source, route,
                           served.age)
        return served.value

    def _url(self, path: str, params: Params | None = None) -> URL:
        """The full URL of a call, built once per distinct path and parameters: a URL is
        parsed and encoded on every build, and a source is read with the same few parameter
        sets over and over."""
        pairs = tuple(params.items()) if isinstance(params, Mapping) else tuple(params or ())
        key = (path, pairs)
        try:
            url = self._urls.get(key)
        except TypeError:  # an unhashable parameter value: build it each time
            return self._build_url(path, params)
        if url is None:
            url = self._urls[key] = self._build_url(path, params)
        return url

    def _build_url(self, path: str, params: Params | None) -> URL:
        # A path joins the base URL; an absolute URL is kept.
        url = URL(path)
        if not url.absolute:
            url = URL(self.base_url + "/" + path.lstrip("/"))
        if not params:
            return url
        pairs = params.items() if isinstance(params, Mapping) else params
        # Values as httpx wrote them (the upstreams' contracts were tested so): booleans
        # lower-case, None empty; a parameter already in the path is replaced.
        return url.update_query([(str(name), query_value(value)) for name, value in pairs])

    async def send_json(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        *,
        idempotent: bool = False,
        **ids: object,
    ) -> Any:
        """Send a write; never cached, and it empties this source's cache on success.

        `path` is a template, as for `get_json`. `idempotent` says the upstream dedups a
        repeat of this request (it carries an idempotency key the upstream honours); only
        such a write may ever be retried.
        """
        route = self.routes.label(path)
        if ids:
            path = self._path(method, path, ids)
        request = Call(
            method, self._url(path), {**(_JSON_HEADERS if body is not None else {}),
                                      **(headers or {})},
            None if body is None else jsonio.dumps(body),
        )
        scope = current_scope()
        if scope is not None:
            scope.sources.add(self.source)
            for plugin in self._plugins:  # reads after a write depend on it
                plugin.replied(scope)
        result = await self._call(request, route, self.retries if idempotent else 0)
        self.cache.clear()
        return result

    def _may_serve_stale(self, exc: BaseException) -> bool:
        scope = current_scope()
        return isinstance(exc, TRANSIENT) and (scope is None or scope.resilient)

    async def _call(self, request: Call, route: str, retries: int) -> Any:
        """Attempts of one call within its time budget, through the breaker."""
        where = f"{request.method} {request.url.path}"
        scope = current_scope()
        if scope is not None and not scope.resilient:
            retries = 0
        end = time.monotonic() + self.timeout
        left = scope.remaining() if scope is not None else None
        if left is not None:
            end = min(end, time.monotonic() + left)
        attempt = 0
        maybe_sent = False
        while True:
            budget = end - time.monotonic()
            # (`unsent`: this request never left, nor did an earlier attempt of it)
            if budget <= 0:
                raise UpstreamTimeout(self.source, f"{where}: the request's time budget is spent",
                                      unsent=not maybe_sent)
            breaker = self.breaker
            if breaker is not None and not breaker.allow():
                raise UpstreamUnavailable(
                    self.source, f"{where}: not called, circuit breaker open after repeated "
                    f"failures (next probe in {breaker.retry_in():.0f}s)", unsent=not maybe_sent
                )
            try:
                result = await self._attempt(request, where, route, budget)
            except UpstreamError as exc:
                if breaker is not None and isinstance(exc, TRANSIENT):
                    breaker.failure()
                elif breaker is not None:
                    breaker.success()  # any other answer (a 404, a 422) proves it alive
                maybe_sent = maybe_sent or not exc.unsent
                exc.unsent = not maybe_sent
                delay = _retry_delay(exc, attempt) if attempt < retries else None
                if delay is None or time.monotonic() + delay >= end:
                    raise
                await asyncio.sleep(delay)
                attempt += 1
            except BaseException:
                if breaker is not None:
                    breaker.abandon()
                raise
            else:
                if breaker is not None:
                    breaker.success()
                return result

    async def _attempt(self, request: Call, where: str, route: str, budget: float) -> Any:
        attributes = {"invoice_gateway.source": self.source, "http.request.method":
                      request.method, "url.template": route}
        with self._tracer.start_as_current_span(
            f"{request.method} {route}", kind=SpanKind.CLIENT, attributes=attributes
        ) as span:
            headers = dict(request.headers)
            _PROPAGATOR.inject(headers)
            outcome = "connection_error"
            started: float | None = None
            try:
                async with asyncio.timeout(budget), self._semaphore:
                    for hook in self._before:
                        await hook()
                    self.calls += 1
                    started = time.monotonic()
                    reply = await self._exchange(request, headers)
                    outcome = str(reply.status)
                    span.set_attribute("http.response.status_code", reply.status)
            except (TimeoutError, WireTimeout) as exc:
                outcome = "timeout"
                span.set_status(StatusCode.ERROR, "timeout")
                # Sent unless the wire says otherwise, or the budget ran out before sending.
                unsent = started is None or (isinstance(exc, WireError) and exc.unsent)
                raise UpstreamTimeout(
                    self.source, f"{where}: no answer within {budget:.3g}s", unsent=unsent
                ) from None
            except WireError as exc:
                raise UpstreamUnavailable(
                    self.source, f"{where}: connection failed ({exc.description})",
                    unsent=exc.unsent,
                ) from None
            finally:
                if started is not None:
                    self._observe(route, outcome, time.monotonic() - started)
            status, body = reply.status, reply.body
            if status >= 400:
                span.set_status(StatusCode.ERROR)
                raise self._status_error(where, status, reply.headers, body)
            if status == 204 or not body:
                return None
            try:
                return jsonio.loads(body)
            except ValueError:
                span.set_status(StatusCode.ERROR)
                raise UpstreamBadResponse(
                    self.source, f"{where}: reply is not valid JSON", status=status
                ) from None

    def _status_error(
        self, where: str, status: int, headers: Mapping[str, str], body: bytes
    ) -> UpstreamError:
        detail, fields = self._error_detail(body)
        message = f"{where}: HTTP {status}" + (f": {detail}" if detail else "")
        cls = for_status(status)
        retry_after: float | None = None
        if cls is UpstreamRateLimited:
            try:
                retry_after = float(headers.get("retry-after", ""))
            except ValueError:
                retry_after = None
            if retry_after is not None:
                message += f" (retry after {retry_after:g}s)"
        return cls(self.source, message, status=status, field_errors=fields,
                   retry_after=retry_after)

    async def _exchange(self, request: Call, headers: Mapping[str, str]) -> Reply:
        """The wire's exchange, with the plug-ins told of its network wait."""
        plugins = self._plugins
        if not plugins:
            return await self._wire.exchange(request.method, request.text, headers, request.body)
        scope = current_scope()
        for plugin in plugins:
            plugin.before_call(scope)
        try:
            return await self._wire.exchange(request.method, request.text, headers, request.body)
        finally:
            for plugin in plugins:
                plugin.after_call(scope)

    def _observe(self, route: str, outcome: str, seconds: float) -> None:
        if self._metrics is not None:
            self._metrics.upstream_requests.labels(self.source, route, outcome).inc()
            self._metrics.upstream_seconds.labels(self.source, route).observe(seconds)

    async def aclose(self) -> None:
        await self._wire.aclose()

    def before_each_request(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Await `hook` before every upstream request (the shared per-source budget)."""
        self._before.append(hook)


def query_value(value: Any) -> str:
    """A query parameter's value as text: `true`/`false`, empty for None, else `str()`."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "" if value is None else str(value)


def _retry_delay(exc: UpstreamError, attempt: int) -> float | None:
    """Seconds to wait before retrying after `exc`, or None when it is not worth a retry:
    connection failures, 502/503/504 and 429 (after its Retry-After) are."""
    if isinstance(exc, UpstreamRateLimited) and exc.retry_after is not None:
        return exc.retry_after
    # An UpstreamUnavailable without a status is a refused or dropped connection (a breaker
    # refusal is raised before any attempt and never reaches here); a timeout without a
    # status spent its budget already.
    retryable = (
        isinstance(exc, UpstreamRateLimited)
        or exc.status in RETRY_STATUSES
        or (isinstance(exc, UpstreamUnavailable) and exc.status is None)
    )
    if not retryable:
        return None
    # Full jitter keeps many gateway replicas from retrying in lockstep.
    return random.uniform(0.5, 1.0) * BACKOFF_BASE * (1 << attempt)


def _no_detail(body: bytes) -> ErrorDetail:
    return None, {}
