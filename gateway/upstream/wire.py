"""One HTTP exchange with an upstream: send a request, read the whole reply.

`SourceClient` (`gateway.upstream.client`) does everything around a call (cache, plug-ins,
retries, breaker, budget, tracing, error mapping); a `Wire` only moves bytes.

`AiohttpWire` is the product's one wire: aiohttp's client session used directly. Through
httpx (with the `httpx-aiohttp` transport, as up to 0.2.3) every call also paid httpx's
request and response models, its hooks, cookie jar and chunked body iterator: about 270 µs
of CPU per call on this kind of machine, all of it on a cold query's critical path (half
before the request leaves, half after its reply arrives). Another wire is anything built by
a `WireFactory` (`benchmarks/httpx_wire.py` is httpx's, the baseline of
`benchmarks/fanout.py`).

A failure is raised as `WireTimeout` (no answer in time) or `WireError` (the connection
failed or the reply is not HTTP), with a one-line description that names no header or
query string.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from cachetools import LRUCache
from yarl import URL

from gateway.errors import WireError, WireTimeout


@dataclass(slots=True)
class Reply:
    status: int
    headers: Mapping[str, str]  # case-insensitive names
    body: bytes


class Wire(Protocol):
    async def exchange(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> Reply: ...

    async def aclose(self) -> None: ...


class WireFactory(Protocol):
    """What builds one source's wire (`AiohttpWire` itself is one)."""

    def __call__(
        self, headers: Mapping[str, str], *, timeout: float, max_concurrency: int
    ) -> Wire: ...


def describe(exc: BaseException) -> str:
    """The exception's type and first line (its cause's, where it wraps one)."""
    cause = exc.__cause__ or exc
    text = str(cause).split("\n")[0][:120]
    return f"{type(cause).__name__}: {text}" if text else type(cause).__name__


class AiohttpWire:
    """aiohttp's client, one pooled session per source (opened on first use, in the loop
    that serves the calls)."""

    def __init__(self, headers: Mapping[str, str], *, timeout: float, max_concurrency: int) -> None:
        self._headers = dict(headers)
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=min(timeout, 5.0), sock_read=timeout
        )
        self._limit = max_concurrency
        self._session: aiohttp.ClientSession | None = None
        # yarl parses a URL string on every request unless handed a ready URL; a source is
        # read with the same few URLs over and over.
        self._urls: LRUCache[str, URL] = LRUCache(1024)

    def _open(self) -> aiohttp.ClientSession:
        session = self._session
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(limit=self._limit, limit_per_host=self._limit)
            session = self._session = aiohttp.ClientSession(
                connector=connector, headers=self._headers, timeout=self._timeout,
                trust_env=False, cookie_jar=aiohttp.DummyCookieJar(),
            )
        return session

    def _url(self, url: str) -> URL:
        ready = self._urls.get(url)
        if ready is None:
            ready = self._urls[url] = URL(url, encoded=True)
        return ready

    async def exchange(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> Reply:
        session = self._open()
        try:
            async with session.request(
                method, self._url(url), headers=headers, data=body, allow_redirects=False
            ) as response:
                payload = await response.read()
                return Reply(response.status, response.headers, payload)
        except aiohttp.ConnectionTimeoutError as exc:  # before anything was sent
            raise WireTimeout(describe(exc), unsent=True) from None
        except TimeoutError as exc:  # aiohttp's ServerTimeoutError is one
            raise WireTimeout(describe(exc)) from None
        except aiohttp.ClientConnectorError as exc:  # refused, unreachable, DNS
            raise WireError(describe(exc), unsent=True) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise WireError(describe(exc)) from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
